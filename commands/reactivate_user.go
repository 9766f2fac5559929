package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// ReactivateUser lets a deactivated user sign in again (admins only).
func (h *Handler) ReactivateUser(ctx context.Context, m Meta, userID string) (Result, error) {
	return h.execUser(ctx, m, userID, func(u *domain.User, now time.Time) error {
		return u.Reactivate(m.Actor, now)
	})
}
