package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// DeletePost soft-deletes a post: editors and admins any post, its author
// only while it is a draft. The slug stays reserved so a restore keeps it.
func (h *Handler) DeletePost(ctx context.Context, m Meta, c PostRef) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error { return p.Delete(m.Actor, now) }})
}
