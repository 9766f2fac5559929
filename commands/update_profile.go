package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// UpdateProfile is the command to change a user's display name and bio.
type UpdateProfile struct {
	UserID      string
	DisplayName string
	Bio         string
}

// UpdateProfile changes a profile (its owner or an admin).
func (h *Handler) UpdateProfile(ctx context.Context, m Meta, c UpdateProfile) (Result, error) {
	return h.execUser(ctx, m, c.UserID, func(u *domain.User, now time.Time) error {
		return u.UpdateProfile(m.Actor, c.DisplayName, c.Bio, now)
	})
}
