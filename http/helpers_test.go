package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	espg "github.com/palimpsest-cms/palimpsest/eventstore/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
	"github.com/palimpsest-cms/palimpsest/projections"
)

// testEnv is a full server over a fresh PostgreSQL database: the
// PostgreSQL event store, real commands, the projection runtime and the
// PostgreSQL reader.
type testEnv struct {
	t        testing.TB
	pool     *pgxpool.Pool
	dsn      string
	store    eventstore.Store
	commands *commands.Handler
	srv      *Server
	url      string
	client   *http.Client
	registry *prometheus.Registry
}

type envOption func(*Config)

func newTestEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	ctx := context.Background()
	pool, dsn := pgtest.NewPool(t)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store, err := espg.New(ctx, pool, dsn, espg.Options{})
	if err != nil {
		t.Fatalf("open event store: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	cmds, err := commands.New(commands.Config{Store: store, Hasher: commands.NewArgon2idHasher(commands.TestArgon2Params())})
	if err != nil {
		t.Fatalf("commands: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(&testLogWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	rt, err := projections.NewRuntime(projections.Config{Pool: pool, Store: store, Projections: projections.All(), Logger: logger,
		BatchTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("projection runtime: %v", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = rt.Run(rctx)
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	waiter := projections.NewWaiter(pool, logger)
	t.Cleanup(func() { _ = waiter.Close() })
	reg := prometheus.NewRegistry()
	cfg := Config{
		Commands: cmds, Reader: postgres.NewReader(pool), Waiter: waiter, Store: store, Projections: rt, Pool: pool,
		Logger: logger, Registry: reg, CORSOrigins: []string{"https://app.example"},
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e := &testEnv{t: t, pool: pool, dsn: dsn, store: store, commands: cmds, srv: srv, url: ts.URL, client: ts.Client(), registry: reg}
	e.waitReady()
	return e
}

// waitReady polls /readyz until the projections run (as a load balancer would).
func (e *testEnv) waitReady() {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.do(req{Method: "GET", Path: "/readyz"})
		if r.Status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("server not ready: %s", r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type testLogWriter struct{ t testing.TB }

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// resp is a finished HTTP exchange.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t testing.TB, dst any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, dst); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r resp) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

func (r resp) problem(t testing.TB) Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, problemContentType) {
		t.Fatalf("status %d content type %q, want %s; body %s", r.Status, ct, problemContentType, r.Body)
	}
	var p Problem
	r.json(t, &p)
	return p
}

// req describes a request.
type req struct {
	Method, Path string
	Token        string
	Body         any // encoded as JSON unless a string or []byte
	ContentType  string
	Header       map[string]string
}

func (e *testEnv) do(r req) resp {
	e.t.Helper()
	var body io.Reader
	ct := r.ContentType
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encode body: %v", err)
		}
		body = bytes.NewReader(raw)
		if ct == "" {
			ct = "application/json"
		}
	}
	hr, err := http.NewRequest(r.Method, e.url+r.Path, body)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	if ct != "" {
		hr.Header.Set("Content-Type", ct)
	}
	if r.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	res, err := e.client.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// must performs r and fails unless the status is want.
func (e *testEnv) must(want int, r req) resp {
	e.t.Helper()
	got := e.do(r)
	if got.Status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", r.Method, r.Path, got.Status, want, got.Body)
	}
	return got
}

// account is a signed-in test user.
type account struct {
	ID, Username, Password, Access, Refresh string
}

const testPassword = "correct horse battery"

func (e *testEnv) register(username string) account {
	e.t.Helper()
	r := e.must(http.StatusCreated, req{Method: "POST", Path: "/api/v1/auth/register", Body: map[string]any{
		"email": username + "@example.com", "username": username, "password": testPassword, "display_name": strings.ToUpper(username[:1]) + username[1:]}})
	var s struct {
		User         struct{ ID string } `json:"user"`
		AccessToken  string              `json:"access_token"`
		RefreshToken string              `json:"refresh_token"`
	}
	r.json(e.t, &s)
	return account{ID: s.User.ID, Username: username, Password: testPassword, Access: s.AccessToken, Refresh: s.RefreshToken}
}

func (e *testEnv) login(login, password string) account {
	e.t.Helper()
	r := e.must(http.StatusOK, req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"login": login, "password": password}})
	var s struct {
		User         struct{ ID, Username string } `json:"user"`
		AccessToken  string                        `json:"access_token"`
		RefreshToken string                        `json:"refresh_token"`
	}
	r.json(e.t, &s)
	return account{ID: s.User.ID, Username: s.User.Username, Password: password, Access: s.AccessToken, Refresh: s.RefreshToken}
}

// setRole has admin give u role and signs u in again so the token carries it.
func (e *testEnv) setRole(admin account, u account, role domain.Role) account {
	e.t.Helper()
	e.must(http.StatusOK, req{Method: "PUT", Path: "/api/v1/users/" + u.ID + "/role", Token: admin.Access, Body: map[string]any{"role": role}})
	return e.login(u.Username, u.Password)
}

// team registers an admin (first account) and one user per other role.
type team struct {
	Admin, Author, Editor, Auditor, Reader account
}

func (e *testEnv) team() team {
	e.t.Helper()
	var tm team
	tm.Admin = e.register("admin")
	tm.Author = e.setRole(tm.Admin, e.register("author"), domain.RoleAuthor)
	tm.Editor = e.setRole(tm.Admin, e.register("editor"), domain.RoleEditor)
	tm.Auditor = e.setRole(tm.Admin, e.register("auditor"), domain.RoleAuditor)
	tm.Reader = e.register("reader")
	return tm
}

// result is a post command's answer.
type result struct {
	ID       string `json:"id"`
	Slug     string `json:"slug"`
	Version  uint64 `json:"version"`
	Revision int    `json:"revision"`
	Position uint64 `json:"position"`
}

func (e *testEnv) draft(author account, title, body string, tags ...string) result {
	e.t.Helper()
	if tags == nil {
		tags = []string{}
	}
	r := e.must(http.StatusCreated, req{Method: "POST", Path: "/api/v1/posts", Token: author.Access,
		Body: map[string]any{"title": title, "body": body, "tags": tags}})
	var res result
	r.json(e.t, &res)
	return res
}

func ifMatchHeader(v uint64) map[string]string {
	return map[string]string{"If-Match": fmt.Sprintf("%q", fmt.Sprint(v))}
}

func (e *testEnv) head() eventstore.Position {
	e.t.Helper()
	p, err := e.store.Head(context.Background())
	if err != nil {
		e.t.Fatalf("head: %v", err)
	}
	return p
}
