package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// PublishDue publishes a scheduled post whose publication time is at or
// before now, for the scheduler (m.Actor is normally domain.SystemActor). It
// is idempotent: for a post that is not scheduled (e.g. already published)
// or not due yet it appends nothing and returns Changed=false with the
// post's current version. now decides whether the post is due; the event
// is recorded at the handler's clock (never before the scheduled time).
func (h *Handler) PublishDue(ctx context.Context, m Meta, postID string, now time.Time) (Result, error) {
	return h.execPost(ctx, m, postCommand{postID: postID,
		decide: func(p *domain.Post, at time.Time) error {
			if p.Status != domain.StatusScheduled || p.ScheduledFor.After(now) {
				_, err := p.PublishDue(m.Actor, now) // still refuses unauthorized actors
				return err
			}
			// Due by the scheduler's clock; record it at the handler's clock,
			// but never before the scheduled time.
			if at.Before(p.ScheduledFor) {
				at = p.ScheduledFor
			}
			_, err := p.PublishDue(m.Actor, at)
			return err
		}})
}
