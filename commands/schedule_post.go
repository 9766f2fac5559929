package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// SchedulePost is the command to publish a post automatically at PublishAt.
type SchedulePost struct {
	PostID          string
	ExpectedVersion uint64
	PublishAt       time.Time
}

// SchedulePost schedules a post's publication (editor or admin); PublishAt
// must be in the future.
func (h *Handler) SchedulePost(ctx context.Context, m Meta, c SchedulePost) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: c.PostID, expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error {
			return p.Schedule(m.Actor, c.PublishAt.UTC().Truncate(time.Microsecond), now)
		}})
}
