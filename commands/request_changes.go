package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// RequestChanges is the command to send a post in review back to draft.
type RequestChanges struct {
	PostID          string
	ExpectedVersion uint64
	Comment         string
}

// RequestChanges sends a post in review back to its author (editor or admin).
func (h *Handler) RequestChanges(ctx context.Context, m Meta, c RequestChanges) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error { return p.RequestChanges(m.Actor, c.Comment, now) }})
}
