package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// UnpublishPost is the command to take a published or scheduled post back to draft.
type UnpublishPost struct {
	PostID          string
	ExpectedVersion uint64
	Reason          string
}

// UnpublishPost moves a published or scheduled post back to draft (editor or admin).
func (h *Handler) UnpublishPost(ctx context.Context, m Meta, c UnpublishPost) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error { return p.Unpublish(m.Actor, c.Reason, now) }})
}
