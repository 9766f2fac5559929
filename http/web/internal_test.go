package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/textdiff"
)

// noSessions is a Sessions with nobody signed in.
type noSessions struct{}

func (noSessions) Actor(*http.Request) (domain.Actor, bool)                      { return domain.Actor{}, false }
func (noSessions) SignIn(http.ResponseWriter, *http.Request, *domain.User) error { return nil }
func (noSessions) SignOut(http.ResponseWriter, *http.Request) error              { return nil }

// bareUI is a UI with its templates and assets but no back end, for the
// middleware that needs none.
func bareUI(t *testing.T) *UI {
	t.Helper()
	assets, err := newAssetSet()
	if err != nil {
		t.Fatal(err)
	}
	ui := &UI{cfg: Config{Sessions: noSessions{}, SiteName: "Test"}, log: slog.New(slog.DiscardHandler), assets: assets}
	if ui.pages, err = parsePages(ui.funcs()); err != nil {
		t.Fatal(err)
	}
	return ui
}

func TestErrorPagesNeverLeakDetails(t *testing.T) {
	ui := bareUI(t)
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	g := e.Group("/", ui.recoverer, ui.headers, ui.session, ui.csrf)
	g.GET("/panic", func(*gin.Context) { panic("secret internal state at handler.go:42") })
	g.GET("/fail", func(c *gin.Context) { ui.fail(c, errors.New("pq: password authentication failed for user \"secret\"")) })
	g.GET("/forbidden", func(c *gin.Context) {
		ui.fail(c, domain.Errorf(domain.KindForbidden, "not_owner", "Only the author may do this."))
	})
	e.NoRoute(ui.NotFound)
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/panic", http.StatusInternalServerError, "Something went wrong"},
		{"/fail", http.StatusInternalServerError, "Something went wrong"},
		{"/forbidden", http.StatusForbidden, "Only the author may do this."},
		{"/missing", http.StatusNotFound, "Page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			body := rec.Body.String()
			if rec.Code != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("status %d, want %d with %q: %s", rec.Code, tt.status, tt.want, body)
			}
			for _, leak := range []string{"secret", "handler.go", "goroutine", "pq:"} {
				if strings.Contains(body, leak) {
					t.Errorf("error page leaks %q", leak)
				}
			}
			if rec.Header().Get("Content-Security-Policy") != ContentSecurityPolicy {
				t.Error("error page without CSP")
			}
			if !strings.Contains(body, `<main id="main"`) || !strings.Contains(body, "Skip to main content") {
				t.Error("error page without the layout")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, []string{"Commands is required", "Reader is required", "Waiter is required", "Sessions is required", "BaseURL"}},
		{"relative base URL", Config{BaseURL: "/blog"}, []string{"BaseURL \"/blog\""}},
		{"ftp base URL", Config{BaseURL: "ftp://x"}, []string{"BaseURL"}},
		{"negative page size", Config{BaseURL: "https://x", PageSize: -1}, []string{"PageSize"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted an empty config")
	}
}

func TestCookieSessions(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	user := &domain.User{ID: "0195c5a0-0000-7000-8000-000000000001", Role: domain.RoleEditor, Status: domain.UserStatusActive, PasswordHash: "h1"}
	var current *domain.User
	load := func(_ context.Context, id string) (*domain.User, error) {
		if current == nil || id != current.ID {
			return nil, domain.Errorf(domain.KindNotFound, "user_not_found", "no user")
		}
		return current, nil
	}
	s, err := NewCookieSessions(CookieSessionsConfig{Key: key, Users: load, TTL: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := s.SignIn(rec, httptest.NewRequest(http.MethodPost, "/signin", nil), user); err != nil {
		t.Fatal(err)
	}
	ck := rec.Result().Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure {
		t.Errorf("cookie flags: %+v", ck)
	}
	tlsRec := httptest.NewRecorder()
	tlsReq := httptest.NewRequest(http.MethodPost, "https://x/signin", nil)
	_ = s.SignIn(tlsRec, tlsReq, user)
	if !tlsRec.Result().Cookies()[0].Secure {
		t.Error("cookie over TLS is not Secure")
	}
	req := func(value string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: value})
		return r
	}
	tests := []struct {
		name   string
		value  string
		setup  func()
		wantOK bool
	}{
		{"valid", ck.Value, func() { current = user }, true},
		{"tampered", strings.Replace(ck.Value, ".", "x.", 1), func() { current = user }, false},
		{"garbage", "not-a-session", func() { current = user }, false},
		{"expired", ck.Value, func() { current = user; now = now.Add(2 * time.Hour) }, false},
		{"unknown user", ck.Value, func() { now = now.Add(-2 * time.Hour); current = nil }, false},
		{"deactivated", ck.Value, func() { u := *user; u.Status = domain.UserStatusDeactivated; current = &u }, false},
		{"password changed", ck.Value, func() { u := *user; u.PasswordHash = "h2"; current = &u }, false},
		{"role change applies", ck.Value, func() { u := *user; u.Role = domain.RoleAuthor; current = &u }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			a, ok := s.Actor(req(tt.value))
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && (a.ID != user.ID || a.Role != current.Role) {
				t.Errorf("actor %+v", a)
			}
		})
	}
	out := httptest.NewRecorder()
	_ = s.SignOut(out, httptest.NewRequest(http.MethodPost, "/signout", nil))
	if c := out.Result().Cookies()[0]; c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("sign out cookie %+v", c)
	}
	if _, err := NewCookieSessions(CookieSessionsConfig{Key: []byte("short")}); err == nil {
		t.Error("short key accepted")
	}
}

// memStore is a SessionStore in memory.
type memStore struct {
	mu   sync.Mutex
	open map[string]bool
	n    int
}

func (m *memStore) OpenSession(_ context.Context, userID string, _ time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	id := fmt.Sprintf("s%d-%s", m.n, userID)
	m.open[id] = true
	return id, nil
}

func (m *memStore) SessionOpen(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open[id], nil
}

func (m *memStore) EndSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.open, id)
	return nil
}

// TestCookieSessionsWithStore: with a Store, signing out ends the sign-in
// for every copy of its cookie, other sign-ins go on, and cookies made
// without a Store are refused.
func TestCookieSessionsWithStore(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	user := &domain.User{ID: "0195c5a0-0000-7000-8000-000000000001", Role: domain.RoleEditor, Status: domain.UserStatusActive, PasswordHash: "h1"}
	load := func(context.Context, string) (*domain.User, error) { return user, nil }
	store := &memStore{open: map[string]bool{}}
	s, err := NewCookieSessions(CookieSessionsConfig{Key: key, Users: load, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(s *CookieSessions) *http.Cookie {
		rec := httptest.NewRecorder()
		if err := s.SignIn(rec, httptest.NewRequest(http.MethodPost, "/signin", nil), user); err != nil {
			t.Fatal(err)
		}
		return rec.Result().Cookies()[0]
	}
	with := func(ck *http.Cookie) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(ck)
		return r
	}
	a, b := signIn(s), signIn(s)
	if len(store.open) != 2 {
		t.Fatalf("store holds %d sign-ins, want 2", len(store.open))
	}
	if _, ok := s.Actor(with(a)); !ok {
		t.Fatal("fresh sign-in refused")
	}
	if err := s.SignOut(httptest.NewRecorder(), with(a)); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Actor(with(a)); ok {
		t.Error("a copy of a signed-out cookie still works")
	}
	if _, ok := s.Actor(with(b)); !ok {
		t.Error("another sign-in ended with the first")
	}
	plain, err := NewCookieSessions(CookieSessionsConfig{Key: key, Users: load})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Actor(with(signIn(plain))); ok {
		t.Error("a cookie without a store sign-in is accepted")
	}
}

func TestSafeNext(t *testing.T) {
	tests := map[string]string{
		"":                     "/",
		"/desk":                "/desk",
		"/desk?x=1":            "/desk?x=1",
		"//evil.example/":      "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
		"javascript:alert(1)":  "/",
	}
	for in, want := range tests {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSideBySidePairsChanges(t *testing.T) {
	if rows := sideBySide(nil); len(rows) != 0 {
		t.Fatalf("rows for no hunks: %v", rows)
	}
	rows := sideBySide(textdiff.Lines("a\nb\nc\n", "a\nB b\nc\nd\n", 3))
	type row struct {
		left, right  string
		lNo, rNo     int
		lKind, rKind string
	}
	got := []row{}
	for _, r := range rows[1:] {
		var g row
		if r.Left != nil {
			g.left, g.lNo, g.lKind = r.Left.Text, r.LeftNo, r.Left.Kind
		}
		if r.Right != nil {
			g.right, g.rNo, g.rKind = r.Right.Text, r.RightNo, r.Right.Kind
		}
		got = append(got, g)
	}
	want := []row{
		{"a", "a", 1, 1, "context", "context"},
		{"b", "B b", 2, 2, "delete", "insert"},
		{"c", "c", 3, 3, "context", "context"},
		{"", "d", 0, 4, "", "insert"},
	}
	if !rows[0].Hunk || rows[0].Header != "@@ -1,3 +1,4 @@" {
		t.Errorf("header row %+v", rows[0])
	}
	if len(got) != len(want) {
		t.Fatalf("rows = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestRegisterBesideAPI mounts the UI on an engine that already serves the
// JSON API's and the media server's paths: Gin panics on any conflict.
func TestRegisterBesideAPI(t *testing.T) {
	ui := bareUI(t)
	e := gin.New()
	noop := func(*gin.Context) {}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json", "/api/v1/posts", "/api/v1/posts/:id",
		"/api/v1/posts/:id/revisions/:n", "/media/:hash/:file"} {
		e.GET(p, noop)
	}
	e.POST("/api/v1/auth/login", noop)
	ui.Register(e)
	e.NoRoute(ui.NotFound)
	seen := map[string]bool{}
	for _, r := range e.Routes() {
		seen[r.Method+" "+r.Path] = true
	}
	for _, want := range []string{"GET /", "GET /posts/:slug", "GET /static/*path", "POST /signin", "GET /desk", "GET /audit", "GET /admin/users"} {
		if !seen[want] {
			t.Errorf("route %s not registered", want)
		}
	}
}
