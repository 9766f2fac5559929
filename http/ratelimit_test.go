package httpapi

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/http/ratelimit"
	"github.com/palimpsest-cms/palimpsest/http/web"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/projections"
)

func TestRegistrationRateLimit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) {
		c.Login = LoginLimits{RegistrationsPerIP: 2, RegistrationWindow: time.Hour}
	})
	// Refused by validation before hashing: does not count.
	for range 3 {
		e.must(422, req{Method: "POST", Path: "/api/v1/auth/register", Body: map[string]any{
			"email": "bad", "username": "x y", "password": "1"}})
	}
	e.register("admin")
	e.register("second")

	before := e.head()
	for _, h := range []map[string]string{nil, {"X-Forwarded-For": "203.0.113.9"}} {
		r := e.do(req{Method: "POST", Path: "/api/v1/auth/register", Header: h, Body: map[string]any{
			"email": "third@example.com", "username": "third", "password": testPassword, "display_name": "Third"}})
		if r.Status != http.StatusTooManyRequests || r.problem(t).Code != "rate_limited" {
			t.Fatalf("third registration (headers %v): %d %s", h, r.Status, r.Body)
		}
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 3600 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
	}
	if after := e.head(); after != before {
		t.Fatalf("refused registration appended events: head %d -> %d", before, after)
	}
	// Sign-ins have their own budget.
	e.login("second", testPassword)
}

// uiServer serves the web UI over e's commands and read models with lim,
// as cmd/cms does next to the API.
func uiServer(t *testing.T, e *testEnv, lim *ratelimit.Limiter) string {
	return uiServerWith(t, e, lim, false)
}

// uiServerWith is uiServer, with the UI's sessions wired to the API's as
// cmd/cms wires them when wired is set (web.CookieSessionsConfig.Store,
// web.Config.EndSessions).
func uiServerWith(t *testing.T, e *testEnv, lim *ratelimit.Limiter, wired bool) string {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	waiter := projections.NewWaiter(e.pool, logger)
	t.Cleanup(func() { _ = waiter.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sc := web.CookieSessionsConfig{Key: key, Users: e.commands.LoadUser}
	var endSessions func(context.Context, string) error
	if wired {
		sc.Store = e.srv
		endSessions = func(ctx context.Context, id string) error { return e.srv.EndUserSessions(ctx, id, uuid.Nil) }
	}
	sessions, err := web.NewCookieSessions(sc)
	if err != nil {
		t.Fatal(err)
	}
	ui, err := web.New(web.Config{Commands: e.commands, Reader: postgres.NewReader(e.pool), Waiter: waiter,
		Sessions: sessions, Logger: logger, BaseURL: "http://blog.test", Limiter: lim, EndSessions: endSessions})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	site := gin.New()
	if err := site.SetTrustedProxies(nil); err != nil {
		t.Fatal(err)
	}
	ui.Register(site)
	ts := httptest.NewServer(site)
	t.Cleanup(ts.Close)
	return ts.URL
}

var csrfFieldRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// uiClient is a browser of the UI at base: it keeps its cookies.
type uiClient struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newUIClient(t *testing.T, base string) *uiClient {
	jar, _ := cookiejar.New(nil)
	// A transport of its own: httptest servers of parallel tests close the
	// default transport's idle connections when they stop.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &uiClient{t: t, base: base, client: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// post submits a form the way a browser does: with the CSRF token of the
// sign-in page, which every page of the session shares.
func (c *uiClient) post(path string, values url.Values) (int, http.Header, string) {
	c.t.Helper()
	res, err := c.client.Get(c.base + "/signin")
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfFieldRe.FindSubmatch(b)
	if m == nil {
		c.t.Fatalf("no CSRF token on /signin")
	}
	values.Set("_csrf", string(m[1]))
	res, err = c.client.PostForm(c.base+path, values)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ = io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// signIn signs the browser in and returns it.
func (c *uiClient) signIn(login, password string) *uiClient {
	c.t.Helper()
	if st, _, body := c.post("/signin", url.Values{"login": {login}, "password": {password}, "next": {"/"}}); st != http.StatusSeeOther {
		c.t.Fatalf("UI sign-in as %s: %d %s", login, st, body)
	}
	return c
}

// get loads path and returns the status (redirects are not followed).
func (c *uiClient) get(path string) int {
	c.t.Helper()
	res, err := c.client.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// body loads path and returns the page.
func (c *uiClient) body(path string) string {
	c.t.Helper()
	res, err := c.client.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// clone returns another browser holding a copy of c's cookies.
func (c *uiClient) clone() *uiClient {
	d := newUIClient(c.t, c.base)
	u, _ := url.Parse(c.base)
	d.client.Jar.SetCookies(u, c.client.Jar.Cookies(u))
	return d
}

// uiPost submits a form to the UI from a new browser.
func uiPost(t *testing.T, base, form string, values url.Values) (int, http.Header, string) {
	t.Helper()
	return newUIClient(t, base).post(form, values)
}

// TestAPIAndUIShareLimits alternates between the API and the UI: both draw
// on one budget, so switching doors gains an attacker nothing.
func TestAPIAndUIShareLimits(t *testing.T) {
	t.Parallel()
	lim, err := ratelimit.New(ratelimit.Limits{PerAccount: 4, PerIP: 100, RegistrationsPerIP: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, func(c *Config) { c.Limiter = lim })
	site := uiServer(t, e, lim)
	e.register("admin") // registration 1 (API)

	apiLogin := func(password string) resp {
		return e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"login": "admin", "password": password}})
	}
	uiLogin := func(password string) (int, http.Header, string) {
		return uiPost(t, site, "/signin", url.Values{"login": {"Admin"}, "password": {password}, "next": {"/"}})
	}
	for i := range 2 {
		if r := apiLogin("wrong password!"); r.Status != http.StatusUnauthorized {
			t.Fatalf("API failure %d: %d %s", i, r.Status, r.Body)
		}
		if st, _, body := uiLogin("wrong password!"); st != http.StatusUnauthorized || !strings.Contains(body, "Wrong username") {
			t.Fatalf("UI failure %d: %d", i, st)
		}
	}
	// Four failures in all: both doors are shut, even for the right password.
	if r := apiLogin(testPassword); r.Status != http.StatusTooManyRequests || r.problem(t).Code != "rate_limited" {
		t.Fatalf("API after 4 shared failures: %d %s", r.Status, r.Body)
	}
	st, h, body := uiLogin(testPassword)
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("UI after 4 shared failures: %d %v", st, h)
	}

	// Registrations: one by the API above, one by the UI, one by the API; then both refuse.
	signUp := func(name string) (int, string) {
		st, _, body := uiPost(t, site, "/signup", url.Values{"email": {name + "@example.com"}, "username": {name},
			"password": {testPassword}})
		return st, body
	}
	if st, body := signUp("viaui"); st != http.StatusSeeOther {
		t.Fatalf("UI sign-up: %d %s", st, body)
	}
	e.register("viaapi")
	before := e.head()
	if st, body := signUp("toomany"); st != http.StatusTooManyRequests || !strings.Contains(body, "Too many accounts") {
		t.Fatalf("UI sign-up over the shared budget: %d", st)
	}
	e.must(http.StatusTooManyRequests, req{Method: "POST", Path: "/api/v1/auth/register", Body: map[string]any{
		"email": "toomany@example.com", "username": "toomany", "password": testPassword}})
	if after := e.head(); after != before {
		t.Fatalf("refused sign-ups appended events: head %d -> %d", before, after)
	}
}

// TestPasswordChangeRateLimit: wrong current passwords spend a budget of the
// account's own; once it is spent the change is refused (429) before any
// password is checked, even with the right one, and nothing is appended.
// A refused new password costs nothing, and sign-ins keep their own budget.
func TestPasswordChangeRateLimit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Login = LoginLimits{PerAccount: 2, PerIP: 100} })
	me := e.register("admin")
	change := func(current, next string) resp {
		return e.do(req{Method: "PUT", Path: "/api/v1/me/password", Token: me.Access,
			Body: map[string]any{"current_password": current, "new_password": next}})
	}
	for range 3 { // too short: refused before the current password is checked
		if r := change(testPassword, "short"); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("short new password: %d %s", r.Status, r.Body)
		}
	}
	for i := range 2 {
		if r := change("not my password", "a brand new secret"); r.Status != http.StatusUnprocessableEntity || r.problem(t).Code != "wrong_password" {
			t.Fatalf("wrong current password %d: %d %s", i, r.Status, r.Body)
		}
	}
	before := e.head()
	r := change(testPassword, "a brand new secret")
	if r.Status != http.StatusTooManyRequests || r.problem(t).Code != "rate_limited" {
		t.Fatalf("change after 2 wrong passwords: %d %s", r.Status, r.Body)
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 15*60 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if after := e.head(); after != before {
		t.Fatalf("refused change appended events: head %d -> %d", before, after)
	}
	e.login("admin", testPassword) // the old password still holds, and sign-ins are not locked
}
