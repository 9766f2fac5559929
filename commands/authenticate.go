package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// dummyPassword is hashed once to equalize the timing of logins for unknown accounts.
const dummyPassword = "palimpsest-timing-equalizer"

func invalidCredentials() error {
	return domain.Errorf(domain.KindUnauthenticated, "invalid_credentials", "the login or password is wrong")
}

// Authenticate checks a login (email address or username) and password. A
// wrong password and an unknown login fail alike with invalid_credentials,
// after the same amount of hashing work; a deactivated account with the
// right password fails with account_deactivated.
func (h *Handler) Authenticate(ctx context.Context, login, password string) (*domain.User, error) {
	login = strings.TrimSpace(login)
	stream, known := UsernameStream(login), domain.ValidUsername(domain.NormalizeUsername(login))
	if strings.Contains(login, "@") {
		stream, known = EmailStream(login), true
	}
	var u *domain.User
	if known && password != "" {
		userID, err := h.owner(ctx, stream)
		if err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		if userID != "" {
			u, err = h.LoadUser(ctx, userID)
			if err != nil && domain.KindOf(err) != domain.KindNotFound {
				return nil, fmt.Errorf("authenticate: %w", err)
			}
		}
	}
	if u == nil {
		_, _ = h.hasher.Verify(h.dummy(), password)
		return nil, invalidCredentials()
	}
	ok, err := h.hasher.Verify(u.PasswordHash, password)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !ok {
		return nil, invalidCredentials()
	}
	if !u.Active() {
		return nil, domain.Errorf(domain.KindUnauthenticated, "account_deactivated", "the account is deactivated")
	}
	return u, nil
}

// dummy returns a hash of dummyPassword made with the handler's hasher.
func (h *Handler) dummy() string {
	h.dummyOnce.Do(func() {
		h.dummyHash, _ = h.hasher.Hash(dummyPassword)
	})
	return h.dummyHash
}

// asError is errors.As for *domain.Error.
func asError(err error, target **domain.Error) bool { return errors.As(err, target) }
