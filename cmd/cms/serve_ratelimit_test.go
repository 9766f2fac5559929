package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

// TestServeSharesLimits runs `cms serve` and checks the wiring of the one
// rate limiter: failed sign-ins through the API exhaust the account's budget
// for the UI's sign-in form too, and registrations through the API exhaust
// the address's budget for the UI's sign-up form, which a forged
// X-Forwarded-For (no trusted proxies configured) does not get around.
func TestServeSharesLimits(t *testing.T) {
	t.Setenv("EVENTSTORE_URL", "")
	t.Setenv("CMS_JWT_SECRET", "")
	t.Setenv("CMS_TRUSTED_PROXIES", "")
	dsn := pgtest.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-database-url", dsn, "-addr", "127.0.0.1:0", "-media-dir", t.TempDir(),
			"-projections=false", "-scheduler=false"}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not shut down within 30s")
		}
	}()
	addrRE := regexp.MustCompile(`addr=http://(127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(60 * time.Second); base == ""; {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1]
			break
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited with %d before listening:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start listening within 60s:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The default per-account budget is 10 failures: spend it on the API.
	for i := range 10 {
		resp, err := http.Post(base+"/api/v1/auth/login", "application/json",
			strings.NewReader(`{"login":"victim","password":"wrong password"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("API failure %d: status %d", i, resp.StatusCode)
		}
	}

	// uiPost submits a form like a browser: load it for the CSRF token,
	// then post it from a forged client address.
	uiPost := func(path string, form url.Values) *http.Response {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token on %s: %d", path, resp.StatusCode)
		}
		form.Set("_csrf", string(m[1]))
		r, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Forwarded-For", "198.51.100.7")
		resp, err = client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := uiPost("/signin", url.Values{"login": {"victim"}, "password": {"another guess"}, "next": {"/"}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("UI sign-in after 10 API failures: status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// The default registration budget is 10 per address per hour.
	for i := range 10 {
		resp, err := http.Post(base+"/api/v1/auth/register", "application/json", strings.NewReader(
			fmt.Sprintf(`{"email":"user%d@example.com","username":"user%d","password":"a long passphrase","display_name":"U"}`, i, i)))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("API registration %d: status %d", i, resp.StatusCode)
		}
	}
	resp = uiPost("/signup", url.Values{"email": {"late@example.com"}, "username": {"late"}, "password": {"a long passphrase"}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("UI sign-up after 10 API registrations: status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
