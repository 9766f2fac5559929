package commands

import (
	"context"
	"fmt"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// RegisterUser is the command to create an account.
type RegisterUser struct {
	Email       string
	Username    string
	Password    string
	DisplayName string
}

// RegisterUser creates an account. The first account on an empty system
// becomes admin (decided by claiming the bootstrap stream
// "system-first-admin"), every later one reader. Email and username are
// unique through reservation streams (codes email_taken, username_taken);
// reservations are released again if a later step fails.
func (h *Handler) RegisterUser(ctx context.Context, m Meta, c RegisterUser) (Result, *domain.User, error) {
	now := h.now()
	userID := newID()
	// Validate everything before hashing or claiming anything.
	if _, err := domain.RegisterUser(userID, c.Email, c.Username, c.DisplayName, "unhashed", domain.RoleReader, now); err != nil {
		if pwErr := domain.ValidatePassword(c.Password); pwErr != nil {
			mergeFields(err, pwErr)
		}
		return Result{}, nil, err
	}
	if err := domain.ValidatePassword(c.Password); err != nil {
		return Result{}, nil, err
	}
	hash, err := h.hasher.Hash(c.Password)
	if err != nil {
		return Result{}, nil, fmt.Errorf("register user: %w", err)
	}
	if m.Actor.ID == "" {
		// Self sign-up: the new account is the actor of its own registration.
		m.Actor = domain.Actor{ID: userID, Role: domain.RoleReader}
	}

	email, username := domain.NormalizeEmail(c.Email), domain.NormalizeUsername(c.Username)
	emailStream, usernameStream := EmailStream(email), UsernameStream(username)
	var undo []func()
	fail := func(err error) (Result, *domain.User, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return Result{}, nil, err
	}
	emailValue := emailStream[len(domain.EmailStreamPrefix):] // the hash: no address in reservation events
	if _, err := h.claim(ctx, m, emailStream, userID, emailValue, "email_taken", now); err != nil {
		return fail(err)
	}
	undo = append(undo, func() { _ = h.release(ctx, m, emailStream, userID, emailValue, h.now()) })
	if _, err := h.claim(ctx, m, usernameStream, userID, username, "username_taken", now); err != nil {
		return fail(err)
	}
	undo = append(undo, func() { _ = h.release(ctx, m, usernameStream, userID, username, h.now()) })

	role := domain.RoleReader
	first, err := h.claim(ctx, m, firstAdminStream, userID, "first-admin", "first_admin_taken", now)
	switch {
	case err == nil && first:
		role = domain.RoleAdmin
		undo = append(undo, func() { _ = h.release(ctx, m, firstAdminStream, userID, "first-admin", h.now()) })
	case domain.CodeOf(err) == "first_admin_taken":
	case err != nil:
		return fail(err)
	}
	if role == domain.RoleAdmin && m.Actor.ID == userID {
		m.Actor.Role = domain.RoleAdmin
	}

	u, err := domain.RegisterUser(userID, email, username, c.DisplayName, hash, role, now)
	if err != nil {
		return fail(err)
	}
	ar, err := h.appendChanges(ctx, m, domain.UserStreamPrefix+userID, 0, u.Changes())
	if err != nil {
		return fail(err)
	}
	u.ClearChanges()
	return Result{ID: userID, Version: ar.NextVersion, Position: ar.Position, Changed: true}, u.Clone(), nil
}

// mergeFields adds the field messages of extra to err's when both are
// validation errors, so a form shows every problem at once.
func mergeFields(err, extra error) {
	var e, x *domain.Error
	if !asError(err, &e) || !asError(extra, &x) || e.Kind != domain.KindInvalid || x.Kind != domain.KindInvalid {
		return
	}
	if e.Fields == nil {
		e.Fields = map[string][]string{}
	}
	for k, v := range x.Fields {
		e.Fields[k] = append(e.Fields[k], v...)
	}
}
