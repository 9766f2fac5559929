package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkReadEndpoints measures the in-process cost of the hot read
// endpoints (router, middleware, PostgreSQL reader) over 200 published posts.
// Run: go test -run '^$' -bench ReadEndpoints ./http/
func BenchmarkReadEndpoints(b *testing.B) {
	e := newTestEnv(b)
	admin := e.register("admin")
	var last result
	for i := range 200 {
		p := e.draft(admin, fmt.Sprintf("Benchmark post %d", i), "Some *markdown* body about events and projections.\n", "bench")
		e.must(200, req{Method: "POST", Path: "/api/v1/posts/" + p.ID + "/publish", Token: admin.Access, Header: ifMatchHeader(p.Version)}).json(b, &last)
	}
	e.must(200, req{Method: "GET", Path: "/api/v1/posts", Header: map[string]string{"X-Min-Position": fmt.Sprint(last.Position)}})
	// Fresh tables: give the planner statistics, as the runtime does after bulk loads.
	if _, err := e.pool.Exec(b.Context(), "ANALYZE"); err != nil {
		b.Fatalf("analyze: %v", err)
	}
	h := e.srv.Handler()
	for _, tc := range []struct{ name, path string }{
		{"list", "/api/v1/posts?limit=20"},
		{"get", "/api/v1/posts/" + last.ID},
		{"search", "/api/v1/posts?q=projections&limit=20"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4) // 8 requests in flight on 2 CPUs
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.path, nil))
					if w.Code != 200 {
						b.Errorf("status %d", w.Code)
						return
					}
				}
			})
		})
	}
}
