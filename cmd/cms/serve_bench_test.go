package main

import (
	"context"
	"io"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkServeProfile runs `cms serve` in-process for CMS_PROFILE_SECONDS
// (default 60) against DATABASE_URL on CMS_ADDR, so that `go test
// -cpuprofile` captures the server while an external load generator
// (bench/lag, bench/edits, wrk) drives it; cms itself exposes no pprof.
// It is a benchmark so that plain `go test` never runs it:
//
//	DATABASE_URL=postgres://…/bench_i?sslmode=disable CMS_ADDR=127.0.0.1:18080 \
//	  go test -run '^$' -bench ServeProfile -benchtime 1x -cpuprofile /tmp/serve.prof ./cmd/cms
func BenchmarkServeProfile(b *testing.B) {
	if os.Getenv("DATABASE_URL") == "" {
		b.Fatal("set DATABASE_URL to a benchmark database (and CMS_ADDR)")
	}
	secs, err := strconv.Atoi(os.Getenv("CMS_PROFILE_SECONDS"))
	if err != nil || secs <= 0 {
		secs = 60
	}
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second)
		code := run(ctx, []string{"serve"}, io.Discard, os.Stderr)
		cancel()
		if code != 0 {
			b.Fatalf("cms serve exited with %d", code)
		}
	}
}
