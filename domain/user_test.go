package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var (
	registered = UserRegistered{UserID: "alice", Email: "alice@example.com", Username: "alice", DisplayName: "Alice", PasswordHash: "$argon2id$old", Role: RoleAuthor}
	auditorReg = UserRegistered{UserID: "audrey", Email: "audrey@example.com", Username: "audrey", DisplayName: "Audrey", PasswordHash: "$argon2id$old", Role: RoleAuditor}
	adminReg   = UserRegistered{UserID: "ada", Email: "ada@example.com", Username: "ada", DisplayName: "Ada", PasswordHash: "$argon2id$old", Role: RoleAdmin}
)

func TestUserDecisions(t *testing.T) {
	type userCase struct {
		name  string
		given []Event
		actor Actor
		when  func(u *User, a Actor) error
		then  []Event
		kind  Kind
		code  string
		check func(t *testing.T, u *User)
	}
	profile := func(name, bio string) func(*User, Actor) error {
		return func(u *User, a Actor) error { return u.UpdateProfile(a, name, bio, now) }
	}
	password := func(hash string) func(*User, Actor) error {
		return func(u *User, a Actor) error { return u.ChangePassword(a, hash, now) }
	}
	role := func(r Role) func(*User, Actor) error {
		return func(u *User, a Actor) error { return u.ChangeRole(a, r, now) }
	}
	deactivate := func(u *User, a Actor) error { return u.Deactivate(a, "spam", now) }
	reactivate := func(u *User, a Actor) error { return u.Reactivate(a, now) }
	deactivated := UserDeactivated{Reason: "spam"}

	cases := []userCase{
		{name: "owner updates profile", given: []Event{registered}, actor: alice, when: profile(" Alice A. ", "Writes."), then: []Event{UserProfileUpdated{DisplayName: "Alice A.", Bio: "Writes."}},
			check: func(t *testing.T, u *User) {
				if u.DisplayName != "Alice A." || u.Bio != "Writes." {
					t.Errorf("profile %q %q", u.DisplayName, u.Bio)
				}
			}},
		{name: "reader updates own profile", given: []Event{UserRegistered{UserID: "rita", Email: "r@x.io", Username: "rita", DisplayName: "R", PasswordHash: "h", Role: RoleReader}}, actor: rita, when: profile("Rita", ""), then: []Event{UserProfileUpdated{DisplayName: "Rita"}}},
		{name: "admin updates someone's profile", given: []Event{registered}, actor: ada, when: profile("A", ""), then: []Event{UserProfileUpdated{DisplayName: "A"}}},
		{name: "other user cannot update profile", given: []Event{registered}, actor: bob, when: profile("B", ""), kind: KindForbidden, code: "not_owner"},
		{name: "editor cannot update someone's profile", given: []Event{registered}, actor: ed, when: profile("B", ""), kind: KindForbidden, code: "not_owner"},
		{name: "profile unchanged", given: []Event{registered}, actor: alice, when: profile("Alice", ""), kind: KindInvalid, code: "no_changes"},
		{name: "empty display name", given: []Event{registered}, actor: alice, when: profile("  ", ""), kind: KindInvalid, code: "invalid_profile"},
		{name: "display name too long", given: []Event{registered}, actor: alice, when: profile(strings.Repeat("n", 101), ""), kind: KindInvalid, code: "invalid_profile"},
		{name: "bio too long", given: []Event{registered}, actor: alice, when: profile("A", strings.Repeat("b", 2001)), kind: KindInvalid, code: "invalid_profile"},

		{name: "owner changes password", given: []Event{registered}, actor: alice, when: password("$argon2id$new"), then: []Event{UserPasswordChanged{PasswordHash: "$argon2id$new"}},
			check: func(t *testing.T, u *User) {
				if u.PasswordHash != "$argon2id$new" {
					t.Errorf("hash %q", u.PasswordHash)
				}
			}},
		{name: "auditor rotates own password", given: []Event{auditorReg}, actor: audrey, when: password("$argon2id$new"), then: []Event{UserPasswordChanged{PasswordHash: "$argon2id$new"}}},
		{name: "admin cannot change someone's password", given: []Event{registered}, actor: ada, when: password("h"), kind: KindForbidden, code: "not_owner"},
		{name: "deactivated cannot change password", given: []Event{registered, deactivated}, actor: alice, when: password("h"), kind: KindConflict, code: "invalid_transition"},
		{name: "empty hash refused", given: []Event{registered}, actor: alice, when: password(""), kind: KindInvalid, code: "invalid_password"},

		{name: "admin changes role", given: []Event{registered}, actor: ada, when: role(RoleEditor), then: []Event{UserRoleChanged{From: RoleAuthor, To: RoleEditor}},
			check: func(t *testing.T, u *User) {
				if u.Role != RoleEditor || u.Actor() != (Actor{ID: "alice", Role: RoleEditor}) {
					t.Errorf("role %s", u.Role)
				}
			}},
		{name: "admin cannot change own role", given: []Event{adminReg}, actor: ada, when: role(RoleReader), kind: KindForbidden, code: "self_management"},
		{name: "editor cannot change roles", given: []Event{registered}, actor: ed, when: role(RoleEditor), kind: KindForbidden, code: "forbidden_role"},
		{name: "author cannot promote self", given: []Event{registered}, actor: alice, when: role(RoleAdmin), kind: KindForbidden, code: "forbidden_role"},
		{name: "invalid role", given: []Event{registered}, actor: ada, when: role("overlord"), kind: KindInvalid, code: "invalid_role"},
		{name: "system role cannot be assigned", given: []Event{registered}, actor: ada, when: role(RoleSystem), kind: KindInvalid, code: "invalid_role"},
		{name: "same role changes nothing", given: []Event{registered}, actor: ada, when: role(RoleAuthor), kind: KindInvalid, code: "no_changes"},

		{name: "admin deactivates", given: []Event{registered}, actor: ada, when: deactivate, then: []Event{deactivated},
			check: func(t *testing.T, u *User) {
				if u.Active() || u.Status != UserStatusDeactivated {
					t.Errorf("status %s", u.Status)
				}
			}},
		{name: "admin cannot deactivate self", given: []Event{adminReg}, actor: ada, when: deactivate, kind: KindForbidden, code: "self_management"},
		{name: "editor cannot deactivate", given: []Event{registered}, actor: ed, when: deactivate, kind: KindForbidden, code: "forbidden_role"},
		{name: "deactivate twice refused", given: []Event{registered, deactivated}, actor: ada, when: deactivate, kind: KindConflict, code: "invalid_transition"},
		{name: "deactivation reason too long", given: []Event{registered}, actor: ada, when: func(u *User, a Actor) error { return u.Deactivate(a, strings.Repeat("r", 2001), now) }, kind: KindInvalid, code: "invalid_reason"},
		{name: "admin reactivates", given: []Event{registered, deactivated}, actor: ada, when: reactivate, then: []Event{UserReactivated{}}, check: func(t *testing.T, u *User) {
			if !u.Active() {
				t.Error("not active")
			}
		}},
		{name: "reactivate active refused", given: []Event{registered}, actor: ada, when: reactivate, kind: KindConflict, code: "invalid_transition"},
		{name: "user cannot reactivate self", given: []Event{registered, deactivated}, actor: alice, when: reactivate, kind: KindForbidden, code: "forbidden_role"},
	}
	// An auditor changes nothing: every user command, on its own account and on others'.
	every := map[string]func(*User, Actor) error{
		"update profile": profile("New Name", "bio"), "change role": role(RoleEditor), "deactivate": deactivate, "reactivate": reactivate,
	}
	for name, when := range every {
		cases = append(cases,
			userCase{name: "auditor cannot " + name + " of another user", given: []Event{registered, deactivated}, actor: audrey, when: when, kind: KindForbidden},
			userCase{name: "auditor cannot " + name + " of own account", given: []Event{auditorReg}, actor: audrey, when: when, kind: KindForbidden})
	}
	cases = append(cases, userCase{name: "auditor cannot change another user's password", given: []Event{registered}, actor: audrey, when: password("h"), kind: KindForbidden, code: "not_owner"})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := NewUserFromHistory(history(tc.given...))
			before := *u
			err := tc.when(u, tc.actor)
			if tc.kind != KindInternal {
				if KindOf(err) != tc.kind || (tc.code != "" && CodeOf(err) != tc.code) {
					t.Fatalf("err = %v, want %s/%s", err, tc.kind, tc.code)
				}
				if len(u.Changes()) != 0 || u.Version != before.Version || u.Role != before.Role || u.Status != before.Status {
					t.Fatal("a refusal changed the user")
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			var got []Event
			for _, c := range u.Changes() {
				got = append(got, c.Event)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("recorded %#v, want %#v", got, tc.then)
			}
			if u.OriginalVersion() != uint64(len(tc.given)) || u.Version != uint64(len(tc.given)+1) {
				t.Errorf("version %d original %d", u.Version, u.OriginalVersion())
			}
			if tc.check != nil {
				tc.check(t, u)
			}
		})
	}
}

func TestRegisterUser(t *testing.T) {
	cases := []struct {
		name                    string
		email, username, dname  string
		hash                    string
		role                    Role
		wantEmail, wantUsername string
		fields                  []string
	}{
		{name: "normalizes", email: " Alice@Example.COM ", username: " Alice_1 ", dname: " Alice ", hash: "h", role: RoleReader, wantEmail: "alice@example.com", wantUsername: "alice_1"},
		{name: "first admin", email: "a@b.co", username: "root", dname: "Root", hash: "h", role: RoleAdmin, wantEmail: "a@b.co", wantUsername: "root"},
		{name: "bad email", email: "not-an-email", username: "abc", dname: "A", hash: "h", role: RoleReader, fields: []string{"email"}},
		{name: "email with display name", email: "Bob <bob@x.io>", username: "abc", dname: "A", hash: "h", role: RoleReader, fields: []string{"email"}},
		{name: "bad username", email: "a@b.co", username: "a-b", dname: "A", hash: "h", role: RoleReader, fields: []string{"username"}},
		{name: "short username", email: "a@b.co", username: "ab", dname: "A", hash: "h", role: RoleReader, fields: []string{"username"}},
		{name: "missing display name", email: "a@b.co", username: "abc", dname: " ", hash: "h", role: RoleReader, fields: []string{"display_name"}},
		{name: "long display name", email: "a@b.co", username: "abc", dname: strings.Repeat("d", 101), hash: "h", role: RoleReader, fields: []string{"display_name"}},
		{name: "no hash", email: "a@b.co", username: "abc", dname: "A", role: RoleReader, fields: []string{"password"}},
		{name: "system role", email: "a@b.co", username: "abc", dname: "A", hash: "h", role: RoleSystem, fields: []string{"role"}},
		{name: "everything wrong", email: "x", username: "X Y", dname: "", role: "", fields: []string{"display_name", "email", "password", "role", "username"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := RegisterUser("u1", tc.email, tc.username, tc.dname, tc.hash, tc.role, now)
			if tc.fields != nil {
				var got []string
				var de *Error
				if errors.As(err, &de) && de.Code == "invalid_user" {
					for f := range de.Fields {
						got = append(got, f)
					}
				}
				if !sameSet(got, tc.fields) || u != nil {
					t.Fatalf("err %v (fields %v), want fields %v", err, got, tc.fields)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := UserRegistered{UserID: "u1", Email: tc.wantEmail, Username: tc.wantUsername, DisplayName: strings.TrimSpace(tc.dname), PasswordHash: tc.hash, Role: tc.role}
			if len(u.Changes()) != 1 || !reflect.DeepEqual(u.Changes()[0].Event, want) {
				t.Fatalf("changes %#v", u.Changes())
			}
			if u.Status != UserStatusActive || u.Version != 1 || u.Role != tc.role || !u.CreatedAt.Equal(now) || u.Email != tc.wantEmail {
				t.Fatalf("state %+v", u)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		if m[s] == 0 {
			return false
		}
		m[s]--
	}
	return true
}
