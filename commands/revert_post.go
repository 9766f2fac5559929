package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// RevertPost is the command to restore the content of an earlier revision.
type RevertPost struct {
	PostID          string
	ExpectedVersion uint64
	Revision        int
	Note            string
}

// RevertPost records a new revision equal to revision c.Revision.
func (h *Handler) RevertPost(ctx context.Context, m Meta, c RevertPost) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error { return p.Revert(m.Actor, c.Revision, c.Note, now) }})
}
