package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// ArchivePost archives a post that is not deleted (editor or admin).
func (h *Handler) ArchivePost(ctx context.Context, m Meta, c PostRef) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error { return p.Archive(m.Actor, now) }})
}
