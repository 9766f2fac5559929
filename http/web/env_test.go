package web_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/memory"
	web "github.com/palimpsest-cms/palimpsest/http/web"
	"github.com/palimpsest-cms/palimpsest/media"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
	"github.com/palimpsest-cms/palimpsest/projections"
)

// env is a full server: real PostgreSQL read models, the in-memory event
// store, commands, the projection runtime and the UI on a Gin engine.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	cmds   *commands.Handler
	ui     *web.UI
	store  eventstore.Store
	waiter *projections.Waiter
}

// settle waits until every projection has reached the head of the log, so
// no commit announcement is still on its way.
func (e *env) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	head, err := e.store.Head(ctx)
	if err != nil {
		e.t.Fatalf("head: %v", err)
	}
	var names []string
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	if err := e.waiter.WaitFor(ctx, head, names...); err != nil {
		e.t.Fatalf("projections did not reach the head %d: %v", head, err)
	}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store := memory.New(eventstore.Options{})
	reader := postgres.NewReader(pool)
	blobs, err := media.NewFSStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := commands.New(commands.Config{Store: store, Hasher: commands.NewArgon2idHasher(commands.TestArgon2Params()),
		Media: commands.MediaConfig{Blobs: blobs, Usage: reader}})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := projections.NewRuntime(projections.Config{Pool: pool, Store: store, Projections: projections.All(),
		BatchTimeout: 5 * time.Millisecond, LeaderRetryInterval: 100 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := rt.Run(runCtx); err != nil {
			t.Errorf("projection runtime: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	waiter := projections.NewWaiter(pool, testLogger())
	t.Cleanup(func() { _ = waiter.Close() })

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sessions, err := web.NewCookieSessions(web.CookieSessionsConfig{Key: key, Users: cmds.LoadUser})
	if err != nil {
		t.Fatal(err)
	}
	ui, err := web.New(web.Config{Commands: cmds, Reader: reader, Media: reader, Waiter: waiter, Sessions: sessions,
		ProjectionStatus: rt.Status, Logger: testLogger(), SiteName: "Palimpsest Test", BaseURL: "http://blog.test"})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	engine := gin.New()
	engine.RedirectTrailingSlash = false
	ui.Register(engine)
	// The API server serves media renditions (API.md); so does this one.
	engine.GET("/media/:hash/:file", func(c *gin.Context) {
		name, ext, _ := strings.Cut(c.Param("file"), ".")
		_ = media.ServeRendition(c.Writer, c.Request, blobs, c.Param("hash"), name, ext)
	})
	engine.NoRoute(ui.NotFound)
	srv := httptest.NewServer(engine)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, cmds: cmds, ui: ui, store: store, waiter: waiter}
}

// client is a browser-like HTTP client with its own cookie jar.
type client struct {
	e    *env
	http *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	// The server's own transport, not http.DefaultTransport: closing any
	// other test's httptest.Server closes the default transport's idle
	// connections, which broke a request of a parallel test in flight
	// ("http: CloseIdleConnections called").
	return &client{e: e, http: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: e.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// response is a read response.
type response struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(req *http.Request) response {
	c.e.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *client) get(path string) response {
	c.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.e.srv.URL+path, nil)
	return c.do(req)
}

// follow GETs path and follows redirects.
func (c *client) follow(path string) response {
	c.e.t.Helper()
	for range 5 {
		r := c.get(path)
		if r.status/100 != 3 {
			return r
		}
		path = r.header.Get("Location")
	}
	c.e.t.Fatalf("too many redirects at %s", path)
	return response{}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the browser, loading a page if needed.
func (c *client) csrf() string {
	c.e.t.Helper()
	r := c.get("/signin")
	m := csrfRe.FindStringSubmatch(r.body)
	if m == nil {
		c.e.t.Fatalf("no csrf token on /signin")
	}
	return m[1]
}

// post submits a form with the CSRF token (unless the form sets _csrf).
func (c *client) post(path string, form url.Values) response {
	c.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", c.csrf())
	}
	req, _ := http.NewRequest(http.MethodPost, c.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// signIn signs the client in and checks the redirect.
func (c *client) signIn(login, password string) {
	c.e.t.Helper()
	r := c.post("/signin", url.Values{"login": {login}, "password": {password}, "next": {"/"}})
	if r.status != http.StatusSeeOther {
		c.e.t.Fatalf("sign in %s: status %d: %s", login, r.status, r.body)
	}
}

// user creates an account with role (the first one is the admin).
func (e *env) user(admin *domain.User, username string, role domain.Role) *domain.User {
	e.t.Helper()
	ctx := context.Background()
	_, u, err := e.cmds.RegisterUser(ctx, commands.Meta{}, commands.RegisterUser{Email: username + "@example.test",
		Username: username, Password: "password-" + username, DisplayName: strings.ToUpper(username[:1]) + username[1:]})
	if err != nil {
		e.t.Fatalf("register %s: %v", username, err)
	}
	if admin != nil && role != domain.RoleReader {
		if _, err := e.cmds.ChangeRole(ctx, commands.Meta{Actor: admin.Actor()}, commands.ChangeRole{UserID: u.ID, Role: role}); err != nil {
			e.t.Fatalf("role %s: %v", username, err)
		}
		u.Role = role
	}
	return u
}
