package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// ChangePassword is the command to change one's own password.
type ChangePassword struct {
	UserID          string
	CurrentPassword string
	NewPassword     string
}

// CodeWrongPassword is the error code of a ChangePassword whose current
// password is wrong (KindInvalid): the one refusal that counts as a guess.
const CodeWrongPassword = "wrong_password"

// ChangePassword replaces the actor's own password after verifying the
// current one (a wrong one fails with KindInvalid code CodeWrongPassword).
func (h *Handler) ChangePassword(ctx context.Context, m Meta, c ChangePassword) (Result, error) {
	if m.Actor.Anonymous() || m.Actor.ID != c.UserID {
		return Result{}, domain.Errorf(domain.KindForbidden, "not_owner", "only the account's owner may change its password")
	}
	if err := domain.ValidatePassword(c.NewPassword); err != nil {
		var e *domain.Error
		if asError(err, &e) {
			e.Fields = map[string][]string{"new_password": e.Fields["password"]}
		}
		return Result{}, err
	}
	return h.execUser(ctx, m, c.UserID, func(u *domain.User, now time.Time) error {
		ok, err := h.hasher.Verify(u.PasswordHash, c.CurrentPassword)
		if err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		if !ok {
			return domain.Invalid(CodeWrongPassword, "the current password is wrong", map[string][]string{"current_password": {"is wrong"}})
		}
		hash, err := h.hasher.Hash(c.NewPassword)
		if err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		return u.ChangePassword(m.Actor, hash, now)
	})
}
