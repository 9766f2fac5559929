package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// ChangeRole is the command to give a user another role.
type ChangeRole struct {
	UserID string
	Role   domain.Role
}

// ChangeRole changes another user's role (admins only; never their own, so
// the acting admin always remains one).
func (h *Handler) ChangeRole(ctx context.Context, m Meta, c ChangeRole) (Result, error) {
	return h.execUser(ctx, m, c.UserID, func(u *domain.User, now time.Time) error {
		return u.ChangeRole(m.Actor, c.Role, now)
	})
}
