package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// EditPost is the command to change a post's content. Nil fields keep their
// current value.
type EditPost struct {
	PostID          string
	ExpectedVersion uint64
	Title           *string
	Body            *string
	Excerpt         *string
	Tags            *[]string
	Note            string
}

// EditPost records a new revision of the post's content.
func (h *Handler) EditPost(ctx context.Context, m Meta, c EditPost) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error {
			content := p.Content
			if c.Title != nil {
				content.Title = *c.Title
			}
			if c.Body != nil {
				content.Body = *c.Body
			}
			if c.Excerpt != nil {
				content.Excerpt = *c.Excerpt
			}
			if c.Tags != nil {
				content.Tags = *c.Tags
			}
			return p.Edit(m.Actor, content, c.Note, now)
		}})
}
