package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// PostRef addresses a post at the version the client last saw (If-Match).
type PostRef struct {
	PostID          string
	ExpectedVersion uint64
}

// SubmitPost moves a draft to review (its author, an editor or an admin).
func (h *Handler) SubmitPost(ctx context.Context, m Meta, c PostRef) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error { return p.Submit(m.Actor, now) }})
}
