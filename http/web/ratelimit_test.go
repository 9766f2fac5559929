package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
)

// TestSignInBruteForce checks the UI's sign-in against the default limits
// of its own limiter: 10 failures per account, then 429 with Retry-After
// even for the right password; other accounts from the same address still
// get their attempts.
func TestSignInBruteForce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(nil, "victim", domain.RoleReader)
	e.user(nil, "bystander", domain.RoleReader)
	c := e.client()
	signIn := func(login, password string) response {
		return c.post("/signin", url.Values{"login": {login}, "password": {password}, "next": {"/"}})
	}
	for i := range 10 {
		if r := signIn("victim", fmt.Sprintf("guess-%d", i)); r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d", i, r.status)
		}
	}
	for _, login := range []string{"victim", "VICTIM", " Victim "} {
		r := signIn(login, "password-victim")
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many failed sign-ins") {
			t.Fatalf("%s after 10 failures: status %d", login, r.status)
		}
		if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 15*60 {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		if !strings.Contains(r.body, `value="`+strings.TrimSpace(login)+`"`) {
			t.Fatalf("the login is not kept in the form")
		}
	}
	if r := signIn("bystander", "password-bystander"); r.status != http.StatusSeeOther {
		t.Fatalf("other account: status %d", r.status)
	}
}

// TestSignUpLimit checks sign-ups per address: invalid forms are free, ten
// accounts are allowed, the eleventh is refused with 429 and claims nothing.
func TestSignUpLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	signUp := func(name string) response {
		return e.client().post("/signup", url.Values{"email": {name + "@example.test"}, "username": {name},
			"display_name": {"N " + name}, "password": {"correct horse battery"}})
	}
	for range 3 {
		if r := e.client().post("/signup", url.Values{"email": {"bad"}, "username": {"x y"}, "password": {"1"}}); r.status != http.StatusUnprocessableEntity {
			t.Fatalf("invalid sign-up: status %d", r.status)
		}
	}
	for i := range 10 {
		if r := signUp(fmt.Sprintf("user%d", i)); r.status != http.StatusSeeOther {
			t.Fatalf("sign-up %d: status %d", i, r.status)
		}
	}
	r := signUp("eleventh")
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many accounts") || r.header.Get("Retry-After") == "" {
		t.Fatalf("eleventh sign-up: status %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if !strings.Contains(r.body, `value="eleventh"`) || strings.Contains(r.body, "correct horse battery") {
		t.Fatalf("the refused form should keep the username and drop the password")
	}
	// Nothing was claimed: the name and the address are still free.
	if _, _, err := e.cmds.RegisterUser(context.Background(), commands.Meta{}, commands.RegisterUser{
		Email: "eleventh@example.test", Username: "eleventh", Password: "correct horse battery", DisplayName: "E"}); err != nil {
		t.Fatalf("register after refusal: %v", err)
	}
}
