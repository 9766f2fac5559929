package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// DeactivateUser is the command to stop a user from signing in.
type DeactivateUser struct {
	UserID string
	Reason string
}

// DeactivateUser deactivates another user's account (admins only).
func (h *Handler) DeactivateUser(ctx context.Context, m Meta, c DeactivateUser) (Result, error) {
	return h.execUser(ctx, m, c.UserID, func(u *domain.User, now time.Time) error {
		return u.Deactivate(m.Actor, c.Reason, now)
	})
}
