package httpapi

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestSQLMetacharactersAreData(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	p := e.draft(admin, "Robust post", "some body text", "go")
	var pub result
	e.must(200, req{Method: "POST", Path: "/api/v1/posts/" + p.ID + "/publish", Token: admin.Access, Header: ifMatchHeader(p.Version)}).json(t, &pub)
	evil := []string{`'`, `''`, `'; DROP TABLE posts; --`, `" OR 1=1 --`, `%`, `_`, `\`, `$1`, `)`, `(`, `!`, `&|`, `:*`, `<>`, "\x00", `%' OR '1'='1`, strings.Repeat("'", 500)}
	for _, param := range []string{"q", "tag", "author", "cursor", "status", "type", "actor", "stream"} {
		for _, v := range evil {
			for _, base := range []string{"/api/v1/posts", "/api/v1/audit", "/api/v1/users"} {
				path := base + "?" + param + "=" + url.QueryEscape(v)
				r := e.do(req{Method: "GET", Path: path, Token: admin.Access, Header: map[string]string{"X-Min-Position": fmt.Sprint(pub.Position)}})
				if r.Status != 200 && r.Status != 422 && r.Status != 400 {
					t.Errorf("GET %s: status %d %s", path, r.Status, r.Body)
				}
				low := strings.ToLower(string(r.Body))
				for _, leak := range []string{"sqlstate", "syntax error", "pq:", "pgx", "select "} {
					if strings.Contains(low, leak) {
						t.Errorf("GET %s leaks %q: %s", path, leak, r.Body)
					}
				}
				if r.Status == 422 {
					if c := r.problem(t).Code; param == "cursor" && c != "invalid_cursor" {
						t.Errorf("GET %s: code %q", path, c)
					}
				}
			}
		}
	}
	// The posts table still works.
	r := e.must(200, req{Method: "GET", Path: "/api/v1/posts?q=robust"})
	if !strings.Contains(string(r.Body), p.ID) {
		t.Fatalf("search lost the post: %s", r.Body)
	}
}

func TestMarkdownIsSanitized(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	body := "# Hi\n\n<script>alert(1)</script>\n\n[click](javascript:alert(2))\n\n<img src=x onerror=alert(3)>\n\n<a href=\"JaVaScRiPt:alert(4)\">x</a>\n"
	p := e.draft(admin, "XSS", body)
	var pub result
	e.must(200, req{Method: "POST", Path: "/api/v1/posts/" + p.ID + "/publish", Token: admin.Access, Header: ifMatchHeader(p.Version)}).json(t, &pub)
	r := e.must(200, req{Method: "GET", Path: "/api/v1/posts/" + p.Slug, Header: map[string]string{"X-Min-Position": fmt.Sprint(pub.Position)}})
	var post struct {
		BodyHTML string `json:"body_html"`
		Body     string `json:"body"`
	}
	r.json(t, &post)
	if post.Body != body || post.BodyHTML == "" {
		t.Fatalf("post: %s", r.Body)
	}
	low := strings.ToLower(post.BodyHTML)
	for _, bad := range []string{"<script", "javascript:", "onerror", "alert(1)"} {
		if strings.Contains(low, bad) {
			t.Errorf("body_html contains %q: %s", bad, post.BodyHTML)
		}
	}
	if r.Header.Get("ETag") != fmt.Sprintf(`"%d"`, pub.Version) {
		t.Errorf("ETag %q, want version %d", r.Header.Get("ETag"), pub.Version)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	post := func(key, title string) resp {
		return e.do(req{Method: "POST", Path: "/api/v1/posts", Token: admin.Access, Header: map[string]string{"Idempotency-Key": key},
			Body: map[string]any{"title": title, "body": "b"}})
	}
	first := post("k1", "Once")
	if first.Status != 201 {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	head := e.head()
	again := post("k1", "Once")
	if again.Status != 201 || string(again.Body) != string(first.Body) || again.Header.Get("Location") != first.Header.Get("Location") ||
		again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v %s", again.Status, again.Header, again.Body)
	}
	if e.head() != head {
		t.Fatalf("replay appended events")
	}
	if r := post("k1", "Different"); r.Status != 422 || r.problem(t).Code != "idempotency_key_reused" {
		t.Fatalf("reuse with another body: %d %s", r.Status, r.Body)
	}
	// Concurrent duplicates: exactly one executes.
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[string]int{}
	)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := post("k2", "Concurrent")
			mu.Lock()
			defer mu.Unlock()
			switch r.Status {
			case 201:
				var res result
				r.json(t, &res)
				ids[res.ID]++
			case 409:
				if c := r.problem(t).Code; c != "idempotency_in_progress" {
					t.Errorf("409 code %q", c)
				}
			default:
				t.Errorf("concurrent: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if len(ids) != 1 {
		t.Fatalf("concurrent duplicates created %d posts: %v", len(ids), ids)
	}
}
