package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// ChangeSlug is the command to change a post's slug.
type ChangeSlug struct {
	PostID          string
	ExpectedVersion uint64
	Slug            string
}

// ChangeSlug claims the new slug, records the change and then releases the
// old slug. If the post event cannot be stored the new claim is released.
func (h *Handler) ChangeSlug(ctx context.Context, m Meta, c ChangeSlug) (Result, error) {
	var oldSlug string
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error {
			oldSlug = p.Slug
			return p.ChangeSlug(m.Actor, c.Slug, now)
		},
		beforeAppend: func(ctx context.Context, p *domain.Post, now time.Time) (func(), error) {
			claimed, err := h.claim(ctx, m, SlugStream(p.Slug), p.ID, p.Slug, "slug_taken", now)
			if err != nil {
				return nil, err
			}
			return func() {
				if claimed {
					h.releaseSlug(ctx, m, p.ID, c.Slug)
				}
			}, nil
		},
		afterAppend: func(ctx context.Context, p *domain.Post, now time.Time) {
			h.releaseSlug(ctx, m, p.ID, oldSlug)
		}})
}
