package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServe runs README's run command — `cms serve` with nothing but the
// local PostgreSQL — on a fresh database and a free port, checks that the
// API, the site and the projections answer, then shuts it down gracefully.
func TestServe(t *testing.T) {
	t.Setenv("EVENTSTORE_URL", "")
	t.Setenv("CMS_JWT_SECRET", "")
	dsn := pgtest.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-database-url", dsn, "-addr", "127.0.0.1:0", "-media-dir", t.TempDir()}, &stdout, &stderr)
	}()

	addrRE := regexp.MustCompile(`addr=http://(127\.0\.0\.1:\d+)`)
	var base string
	deadline := time.Now().Add(60 * time.Second)
	for base == "" {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before listening:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start listening within 60s:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	// Readiness includes the projections running; give the runners a moment.
	var ready int
	for i := 0; i < 100; i++ {
		if ready, _ = get("/readyz"); ready == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ready != http.StatusOK {
		t.Fatalf("/readyz = %d", ready)
	}

	resp, err := http.Post(base+"/api/v1/auth/register", "application/json", strings.NewReader(
		`{"email":"first@example.com","username":"first","password":"a long passphrase","display_name":"First"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"role":"admin"`) {
		t.Fatalf("register first user: %d %s", resp.StatusCode, body)
	}
	if code, page := get("/"); code != http.StatusOK || !strings.Contains(page, "<html") {
		t.Fatalf("home page: %d", code)
	}
	if code, page := get("/api/v1/no-such-route"); code != http.StatusNotFound || !strings.Contains(page, `"code"`) {
		t.Fatalf("unknown API route: %d %s", code, page)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d after shutdown:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down within 30s")
	}
	if strings.Contains(stderr.String(), "a long passphrase") {
		t.Fatal("the password reached the logs")
	}
}
