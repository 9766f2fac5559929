package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRequestDecodingAndErrors(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	big := `{"title":"t","body":"` + strings.Repeat("x", 1<<20) + `"}`
	tests := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"unknown field", req{Method: "POST", Path: "/api/v1/posts", Token: admin.Access, Body: `{"title":"a","body":"b","bogus":1}`, ContentType: "application/json"}, 400, "malformed_json"},
		{"malformed json", req{Method: "POST", Path: "/api/v1/posts", Token: admin.Access, Body: `{"title":`, ContentType: "application/json"}, 400, "malformed_json"},
		{"trailing data", req{Method: "POST", Path: "/api/v1/posts", Token: admin.Access, Body: `{"title":"a","body":"b"} {}`, ContentType: "application/json"}, 400, "malformed_json"},
		{"wrong type", req{Method: "POST", Path: "/api/v1/posts", Token: admin.Access, Body: `{"title":5,"body":"b"}`, ContentType: "application/json"}, 422, "invalid_field_type"},
		{"text/plain", req{Method: "POST", Path: "/api/v1/posts", Token: admin.Access, Body: `{"title":"a","body":"b"}`, ContentType: "text/plain"}, 415, "unsupported_media_type"},
		{"form", req{Method: "POST", Path: "/api/v1/auth/login", Body: `login=a&password=b`, ContentType: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"too large", req{Method: "POST", Path: "/api/v1/posts", Token: admin.Access, Body: big, ContentType: "application/json"}, 413, "too_large"},
		{"no route", req{Method: "GET", Path: "/api/v1/nothing"}, 404, "not_found"},
		{"trailing slash", req{Method: "GET", Path: "/api/v1/posts/"}, 404, "not_found"},
		{"no method", req{Method: "DELETE", Path: "/api/v1/tags"}, 405, "method_not_allowed"},
		{"missing if-match", req{Method: "PATCH", Path: "/api/v1/posts/00000000-0000-0000-0000-000000000001", Token: admin.Access, Body: map[string]any{"title": "x"}}, 428, "precondition_required"},
		{"anonymous command", req{Method: "POST", Path: "/api/v1/posts", Body: map[string]any{"title": "x", "body": "y"}}, 401, "unauthenticated"},
		{"invalid field values", req{Method: "POST", Path: "/api/v1/posts", Token: admin.Access, Body: map[string]any{"title": "", "body": "y"}}, 422, ""},
		{"bad limit", req{Method: "GET", Path: "/api/v1/posts?limit=abc"}, 422, "invalid_limit"},
		{"bad min position", req{Method: "GET", Path: "/api/v1/posts", Header: map[string]string{"X-Min-Position": "x"}}, 422, "invalid_min_position"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.do(tt.r)
			if got.Status != tt.status {
				t.Fatalf("status %d, want %d; body %s", got.Status, tt.status, got.Body)
			}
			p := got.problem(t)
			if p.Status != tt.status || (tt.code != "" && p.Code != tt.code) || p.Type == "" || p.Title == "" {
				t.Fatalf("problem %+v, want status %d code %q", p, tt.status, tt.code)
			}
			if got.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("missing nosniff")
			}
			if tt.status == 401 && got.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if tt.status == 405 && got.Header.Get("Allow") != "GET" {
				t.Errorf("405 Allow = %q", got.Header.Get("Allow"))
			}
			if tt.status == 422 && tt.code == "" && len(p.Errors) == 0 {
				t.Errorf("422 without field errors: %s", got.Body)
			}
		})
	}
}

func TestStaleIfMatchConflict(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	p := e.draft(admin, "First", "body")
	e.must(200, req{Method: "PATCH", Path: "/api/v1/posts/" + p.ID, Token: admin.Access, Header: ifMatchHeader(p.Version), Body: map[string]any{"body": "two"}})
	got := e.must(409, req{Method: "PATCH", Path: "/api/v1/posts/" + p.ID, Token: admin.Access, Header: ifMatchHeader(p.Version), Body: map[string]any{"body": "three"}})
	pr := got.problem(t)
	if pr.Code != "version_conflict" || pr.CurrentVersion == nil || *pr.CurrentVersion != p.Version+1 {
		t.Fatalf("problem %+v", pr)
	}
}

func TestRequestIDAndHeaders(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tests := []struct {
		in   string
		keep bool
	}{{"abc-123.X_y", true}, {"bad id with spaces", false}, {strings.Repeat("a", 65), false}, {"", false}}
	for _, tt := range tests {
		r := e.do(req{Method: "GET", Path: "/api/v1/nothing", Header: map[string]string{"X-Request-ID": tt.in}})
		got := r.Header.Get("X-Request-ID")
		if tt.keep != (got == tt.in) || got == "" {
			t.Errorf("request id %q -> %q", tt.in, got)
		}
		if p := r.problem(t); p.RequestID != got {
			t.Errorf("problem request id %q, header %q", p.RequestID, got)
		}
	}
	// CORS: allowed origin gets the headers, others don't.
	r := e.do(req{Method: "OPTIONS", Path: "/api/v1/posts", Header: map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}})
	if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("preflight: %d %v", r.Status, r.Header)
	}
	r = e.do(req{Method: "GET", Path: "/api/v1/tags", Header: map[string]string{"Origin": "https://evil.example"}})
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("evil origin allowed")
	}
	// Metrics carry the route template.
	e.must(200, req{Method: "GET", Path: "/healthz"})
	m := e.must(200, req{Method: "GET", Path: "/metrics"})
	if !strings.Contains(string(m.Body), `palimpsest_http_request_duration_seconds_count{method="GET",route="/api/v1/tags",status="200"}`) {
		t.Errorf("metrics lack the route template:\n%s", m.Body)
	}
	ready := e.do(req{Method: "GET", Path: "/readyz"})
	if ready.Status != 200 {
		t.Errorf("readyz %d %s", ready.Status, ready.Body)
	}
}

func TestMinPositionTimeout(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.MinPositionTimeout = time.Second })
	admin := e.register("admin")
	p := e.draft(admin, "Soon", "b")
	// Reachable: waits and answers.
	e.must(200, req{Method: "GET", Path: "/api/v1/posts/" + p.ID, Token: admin.Access, Header: map[string]string{"X-Min-Position": fmt.Sprint(p.Position)}})
	// Beyond the log head: 503 with Retry-After after the bound.
	start := time.Now()
	r := e.do(req{Method: "GET", Path: "/api/v1/posts", Header: map[string]string{"X-Min-Position": fmt.Sprint(p.Position + 1000)}})
	if r.Status != 503 || r.Header.Get("Retry-After") == "" || r.problem(t).Code != "projection_lag" {
		t.Fatalf("beyond head: %d %v %s", r.Status, r.Header, r.Body)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Fatalf("waited %v, want about 1s", d)
	}
}
