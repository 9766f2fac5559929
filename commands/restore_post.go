package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// RestorePost undoes a delete or an archive (editor or admin); see
// domain.Post for the status a restored post gets.
func (h *Handler) RestorePost(ctx context.Context, m Meta, c PostRef) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error { return p.Restore(m.Actor, now) }})
}
