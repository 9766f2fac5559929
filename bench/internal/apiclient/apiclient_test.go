package apiclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestNewRefusesNonLoopback(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
		{"http://[::1]:8080", true},
		{"http://10.0.0.1:8080", false},
		{"http://example.com", false},
	}
	for _, tt := range tests {
		_, err := New(tt.url, 1)
		if (err == nil) != tt.ok {
			t.Errorf("New(%q) error = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestEdit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch || r.URL.Path != "/api/v1/posts/p1" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad request line", http.StatusBadRequest)
			return
		}
		if r.Header.Get("If-Match") != `"7"` {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"code":"version_conflict"}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"p1","version":8,"revision":5,"position":42}`))
	}))
	defer srv.Close()
	c, err := New(srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Edit(context.Background(), "tok", "p1", 7, "body", "")
	if err != nil || res.Version != 8 || res.Position != 42 {
		t.Fatalf("Edit = %+v, %v; want version 8 position 42", res, err)
	}
	_, err = c.Edit(context.Background(), "tok", "p1", 6, "body", "")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusConflict {
		t.Fatalf("stale Edit error = %v, want a 409 *StatusError", err)
	}
}
