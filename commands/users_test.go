package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

func register(t *testing.T, h *Handler, name string) (Result, *domain.User) {
	t.Helper()
	res, u, err := h.RegisterUser(context.Background(), Meta{CorrelationID: "reg-" + name}, RegisterUser{
		Email: name + "@example.com", Username: name, Password: "password-" + name, DisplayName: strings.ToUpper(name),
	})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return res, u
}

func TestRegisterUser(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		clk := newClock()
		h := newHandler(t, store, clk)

		res, admin := register(t, h, "root")
		if admin.Role != domain.RoleAdmin || res.ID != admin.ID || res.Version != 1 || res.Position == 0 || !res.Changed {
			t.Fatalf("first user: %+v %+v", res, admin)
		}
		if !strings.HasPrefix(admin.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(admin.PasswordHash, "password-root") {
			t.Fatalf("password hash %q", admin.PasswordHash)
		}
		recs := rawEvents(t, store, "user-"+admin.ID)
		md := metadataOf(t, recs[0])
		if md.ActorID != admin.ID || md.ActorRole != domain.RoleAdmin || md.CorrelationID != "reg-root" || !md.OccurredAt.Equal(clk.Now()) || md.Schema != 1 {
			t.Fatalf("metadata %+v", md)
		}
		if strings.Contains(string(recs[0].Data), "password-root") {
			t.Fatal("plain password stored")
		}
		_, second := register(t, h, "second")
		if second.Role != domain.RoleReader {
			t.Fatalf("second user is %s", second.Role)
		}
		loaded, err := h.LoadUser(ctx, second.ID)
		if err != nil || loaded.Email != "second@example.com" || loaded.Username != "second" || loaded.DisplayName != "SECOND" || loaded.Version != 1 || !loaded.Active() {
			t.Fatalf("loaded %+v %v", loaded, err)
		}

		cases := []struct {
			name string
			cmd  RegisterUser
			kind domain.Kind
			code string
		}{
			{"email taken, other case", RegisterUser{Email: " ROOT@Example.com", Username: "other1", Password: "long enough pw", DisplayName: "X"}, domain.KindConflict, "email_taken"},
			{"username taken, other case", RegisterUser{Email: "other2@example.com", Username: "Root", Password: "long enough pw", DisplayName: "X"}, domain.KindConflict, "username_taken"},
			{"bad email", RegisterUser{Email: "nope", Username: "other3", Password: "long enough pw", DisplayName: "X"}, domain.KindInvalid, "invalid_user"},
			{"short password", RegisterUser{Email: "o4@example.com", Username: "other4", Password: "short", DisplayName: "X"}, domain.KindInvalid, "invalid_password"},
			{"bad username", RegisterUser{Email: "o5@example.com", Username: "no spaces", Password: "long enough pw", DisplayName: "X"}, domain.KindInvalid, "invalid_user"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, u, err := h.RegisterUser(ctx, Meta{}, tc.cmd)
				wantCode(t, err, tc.kind, tc.code)
				if u != nil {
					t.Fatal("user returned with an error")
				}
			})
		}
		// Refused registrations released what they had claimed, e.g. the
		// email "other2@example.com", claimed before its username was refused.
		must(t)(func() (Result, error) {
			r, _, err := h.RegisterUser(ctx, Meta{}, RegisterUser{Email: "other2@example.com", Username: "other1", Password: "long enough pw", DisplayName: "X"})
			return r, err
		}())
		// Every field problem is reported at once.
		_, _, err = h.RegisterUser(ctx, Meta{}, RegisterUser{Email: "x", Username: "x", Password: "x"})
		de := wantCode(t, err, domain.KindInvalid, "invalid_user")
		for _, f := range []string{"email", "username", "display_name", "password"} {
			if len(de.Fields[f]) == 0 {
				t.Errorf("no message for %s: %v", f, de.Fields)
			}
		}
	})
}

func TestRegisterUserReleasesOnFailure(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		fs := &faultStore{Store: store}
		h := newHandler(t, fs, newClock())
		fs.setFail(func(stream string) error {
			if strings.HasPrefix(stream, "user-") {
				return errors.New("disk on fire")
			}
			return nil
		})
		_, _, err := h.RegisterUser(context.Background(), Meta{}, RegisterUser{Email: "a@example.com", Username: "alpha", Password: "long enough pw", DisplayName: "A"})
		if err == nil {
			t.Fatal("registration succeeded")
		}
		fs.setFail(nil)
		// Email, username and the first-admin claim were all released.
		_, u := register(t, h, "alpha")
		if u.Role != domain.RoleAdmin {
			t.Fatalf("first successful user is %s", u.Role)
		}
		_, _, err = h.RegisterUser(context.Background(), Meta{}, RegisterUser{Email: "alpha@example.com", Username: "alpha2", Password: "long enough pw", DisplayName: "A"})
		wantCode(t, err, domain.KindConflict, "email_taken")
	})
}

func TestRegisterUserRaces(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		clk := newClock()
		handlers := []*Handler{newHandler(t, store, clk), newHandler(t, store, clk)}
		const n = 10
		run := func(cmd func(i int) RegisterUser) ([]*domain.User, []error) {
			var wg sync.WaitGroup
			users, errs := make([]*domain.User, n), make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, users[i], errs[i] = handlers[i%2].RegisterUser(ctx, Meta{}, cmd(i))
				}()
			}
			wg.Wait()
			return users, errs
		}
		// Distinct users registering at once on an empty system: exactly one admin.
		users, errs := run(func(i int) RegisterUser {
			return RegisterUser{Email: fmt.Sprintf("u%d@example.com", i), Username: fmt.Sprintf("user%d", i), Password: "long enough pw", DisplayName: "U"}
		})
		admins := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("user %d: %v", i, err)
			}
			if users[i].Role == domain.RoleAdmin {
				admins++
			}
		}
		if admins != 1 {
			t.Fatalf("%d admins", admins)
		}
		// The same email at once: exactly one wins.
		_, errs = run(func(i int) RegisterUser {
			return RegisterUser{Email: "Same@example.com", Username: fmt.Sprintf("same%d", i), Password: "long enough pw", DisplayName: "S"}
		})
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case domain.CodeOf(err) != "email_taken":
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d registrations with one email succeeded", wins)
		}
		// The losers released their usernames.
		for i := range n {
			if owner, _ := handlers[0].owner(ctx, UsernameStream(fmt.Sprintf("same%d", i))); owner != "" {
				if u, err := handlers[0].LoadUser(ctx, owner); err != nil || u.Email != "same@example.com" {
					t.Fatalf("username same%d held by %q (%v)", i, owner, err)
				}
			}
		}
	})
}

func TestAuthenticate(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		h := newHandler(t, store, newClock())
		_, admin := register(t, h, "root")
		_, alice := register(t, h, "alice")
		cases := []struct {
			name, login, password string
			code                  string
		}{
			{name: "username", login: "alice", password: "password-alice"},
			{name: "username other case", login: " Alice ", password: "password-alice"},
			{name: "email", login: "ALICE@example.com", password: "password-alice"},
			{name: "wrong password", login: "alice", password: "password-bob", code: "invalid_credentials"},
			{name: "empty password", login: "alice", password: "", code: "invalid_credentials"},
			{name: "unknown username", login: "bob", password: "password-bob", code: "invalid_credentials"},
			{name: "unknown email", login: "bob@example.com", password: "password-bob", code: "invalid_credentials"},
			{name: "impossible login", login: "no such user!", password: "password-bob", code: "invalid_credentials"},
			{name: "empty login", login: "", password: "x", code: "invalid_credentials"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				u, err := h.Authenticate(ctx, tc.login, tc.password)
				if tc.code != "" {
					wantCode(t, err, domain.KindUnauthenticated, tc.code)
					return
				}
				if err != nil || u.ID != alice.ID {
					t.Fatalf("got %+v %v", u, err)
				}
			})
		}
		must(t)(h.DeactivateUser(ctx, Meta{Actor: admin.Actor()}, DeactivateUser{UserID: alice.ID, Reason: "spam"}))
		_, err := h.Authenticate(ctx, "alice", "password-alice")
		wantCode(t, err, domain.KindUnauthenticated, "account_deactivated")
		_, err = h.Authenticate(ctx, "alice", "wrong password")
		wantCode(t, err, domain.KindUnauthenticated, "invalid_credentials")
		must(t)(h.ReactivateUser(ctx, Meta{Actor: admin.Actor()}, alice.ID))
		if _, err := h.Authenticate(ctx, "alice", "password-alice"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUserCommands(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		h := newHandler(t, store, newClock())
		_, admin := register(t, h, "root")
		_, alice := register(t, h, "alice")
		_, audrey := register(t, h, "audrey")
		adminM := Meta{Actor: admin.Actor(), CorrelationID: "c"}
		must(t)(h.ChangeRole(ctx, adminM, ChangeRole{UserID: audrey.ID, Role: domain.RoleAuditor}))
		audrey, _ = h.LoadUser(ctx, audrey.ID)
		aliceM, audreyM := Meta{Actor: alice.Actor()}, Meta{Actor: audrey.Actor()}

		// Profile.
		r := must(t)(h.UpdateProfile(ctx, aliceM, UpdateProfile{UserID: alice.ID, DisplayName: "Alice", Bio: "Writes."}))
		if r.Version != 2 || !r.Changed {
			t.Fatalf("result %+v", r)
		}
		_, err := h.UpdateProfile(ctx, aliceM, UpdateProfile{UserID: alice.ID, DisplayName: "Alice", Bio: "Writes."})
		wantCode(t, err, domain.KindInvalid, "no_changes")
		_, err = h.UpdateProfile(ctx, aliceM, UpdateProfile{UserID: admin.ID, DisplayName: "Pwned"})
		wantCode(t, err, domain.KindForbidden, "not_owner")
		must(t)(h.UpdateProfile(ctx, adminM, UpdateProfile{UserID: alice.ID, DisplayName: "Alice B."}))

		// Password.
		_, err = h.ChangePassword(ctx, aliceM, ChangePassword{UserID: alice.ID, CurrentPassword: "wrong one!", NewPassword: "new password 1"})
		wantCode(t, err, domain.KindInvalid, "wrong_password")
		_, err = h.ChangePassword(ctx, aliceM, ChangePassword{UserID: alice.ID, CurrentPassword: "password-alice", NewPassword: "short"})
		de := wantCode(t, err, domain.KindInvalid, "invalid_password")
		if len(de.Fields["new_password"]) == 0 {
			t.Fatalf("fields %v", de.Fields)
		}
		_, err = h.ChangePassword(ctx, adminM, ChangePassword{UserID: alice.ID, CurrentPassword: "password-alice", NewPassword: "new password 1"})
		wantCode(t, err, domain.KindForbidden, "not_owner")
		must(t)(h.ChangePassword(ctx, aliceM, ChangePassword{UserID: alice.ID, CurrentPassword: "password-alice", NewPassword: "new password 1"}))
		if _, err := h.Authenticate(ctx, "alice", "password-alice"); domain.CodeOf(err) != "invalid_credentials" {
			t.Fatalf("old password: %v", err)
		}
		if _, err := h.Authenticate(ctx, "alice", "new password 1"); err != nil {
			t.Fatalf("new password: %v", err)
		}

		// Roles and status.
		_, err = h.ChangeRole(ctx, adminM, ChangeRole{UserID: admin.ID, Role: domain.RoleReader})
		wantCode(t, err, domain.KindForbidden, "self_management")
		_, err = h.ChangeRole(ctx, aliceM, ChangeRole{UserID: alice.ID, Role: domain.RoleAdmin})
		wantCode(t, err, domain.KindForbidden, "forbidden_role")
		_, err = h.ChangeRole(ctx, adminM, ChangeRole{UserID: alice.ID, Role: "god"})
		wantCode(t, err, domain.KindInvalid, "invalid_role")
		must(t)(h.ChangeRole(ctx, adminM, ChangeRole{UserID: alice.ID, Role: domain.RoleAuthor}))
		_, err = h.DeactivateUser(ctx, adminM, DeactivateUser{UserID: admin.ID})
		wantCode(t, err, domain.KindForbidden, "self_management")
		_, err = h.DeactivateUser(ctx, aliceM, DeactivateUser{UserID: audrey.ID})
		wantCode(t, err, domain.KindForbidden, "forbidden_role")
		_, err = h.ReactivateUser(ctx, adminM, alice.ID)
		wantCode(t, err, domain.KindConflict, "invalid_transition")
		_, err = h.ChangeRole(ctx, adminM, ChangeRole{UserID: "0190a000-0000-7000-8000-0000000000ff", Role: domain.RoleAuthor})
		wantCode(t, err, domain.KindNotFound, "user_not_found")
		_, err = h.LoadUser(ctx, "nope")
		wantCode(t, err, domain.KindNotFound, "user_not_found")

		// An auditor changes nothing (it may only rotate its own password).
		auditorCmds := map[string]func() (Result, error){
			"update own profile": func() (Result, error) {
				return h.UpdateProfile(ctx, audreyM, UpdateProfile{UserID: audrey.ID, DisplayName: "New"})
			},
			"update other profile": func() (Result, error) {
				return h.UpdateProfile(ctx, audreyM, UpdateProfile{UserID: alice.ID, DisplayName: "New"})
			},
			"change other password": func() (Result, error) {
				return h.ChangePassword(ctx, audreyM, ChangePassword{UserID: alice.ID, CurrentPassword: "new password 1", NewPassword: "x2345678901"})
			},
			"change role": func() (Result, error) {
				return h.ChangeRole(ctx, audreyM, ChangeRole{UserID: alice.ID, Role: domain.RoleEditor})
			},
			"change own role": func() (Result, error) {
				return h.ChangeRole(ctx, audreyM, ChangeRole{UserID: audrey.ID, Role: domain.RoleAdmin})
			},
			"deactivate": func() (Result, error) { return h.DeactivateUser(ctx, audreyM, DeactivateUser{UserID: alice.ID}) },
			"reactivate": func() (Result, error) { return h.ReactivateUser(ctx, audreyM, alice.ID) },
		}
		for name, do := range auditorCmds {
			t.Run("auditor cannot "+name, func(t *testing.T) {
				if _, err := do(); domain.KindOf(err) != domain.KindForbidden {
					t.Fatalf("err = %v", err)
				}
			})
		}
		u, _ := h.LoadUser(ctx, alice.ID)
		if u.Role != domain.RoleAuthor || u.DisplayName != "Alice B." || !u.Active() || u.Version != 5 {
			t.Fatalf("alice %+v", u)
		}
		recs := rawEvents(t, store, "user-"+alice.ID)
		if md := metadataOf(t, recs[len(recs)-1]); md.ActorID != admin.ID || md.ActorRole != domain.RoleAdmin || md.CorrelationID != "c" {
			t.Fatalf("metadata %+v", md)
		}
	})
}

func TestArgon2idHasher(t *testing.T) {
	for _, p := range []Argon2Params{TestArgon2Params(), DefaultArgon2Params()} {
		h := NewArgon2idHasher(p)
		hash, err := h.Hash("correct horse")
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", p.Memory, p.Iterations, p.Parallelism)
		if !strings.HasPrefix(hash, want) {
			t.Fatalf("hash %q, want prefix %q", hash, want)
		}
		again, _ := h.Hash("correct horse")
		if again == hash {
			t.Fatal("same salt twice")
		}
		for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false} {
			if ok, err := h.Verify(hash, pw); err != nil || ok != want {
				t.Fatalf("Verify(%q) = %v, %v", pw, ok, err)
			}
		}
		// A hash made with other parameters verifies with its own.
		if ok, err := NewArgon2idHasher(TestArgon2Params()).Verify(hash, "correct horse"); err != nil || !ok {
			t.Fatalf("cross-parameter verify: %v %v", ok, err)
		}
	}
	h := NewArgon2idHasher(TestArgon2Params())
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=18$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaA"} {
		if ok, err := h.Verify(bad, "x"); err == nil || ok {
			t.Errorf("Verify(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}
