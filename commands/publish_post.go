package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// PublishPost publishes a draft, in-review or scheduled post now (editor or admin).
func (h *Handler) PublishPost(ctx context.Context, m Meta, c PostRef) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error { return p.Publish(m.Actor, now) }})
}
