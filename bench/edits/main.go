// Command edits measures edit throughput through the HTTP API: N workers,
// each drafting its own posts and then editing them round-robin with
// PATCH /api/v1/posts/{id} and If-Match set to the version the previous
// response returned. Every loop is bounded by -duration and -max-edits.
//
//	go run ./bench/edits -url http://127.0.0.1:8080 -login editor1 -password … -workers 32 -duration 20s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palimpsest-cms/palimpsest/bench/internal/apiclient"
	"github.com/palimpsest-cms/palimpsest/bench/internal/latency"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	login := flag.String("login", "editor1", "login of an author, editor or admin")
	password := flag.String("password", "", "password")
	workers := flag.Int("workers", 32, "concurrent workers")
	postsPer := flag.Int("posts-per-worker", 4, "posts each worker drafts and edits round-robin")
	duration := flag.Duration("duration", 20*time.Second, "how long to edit")
	maxEdits := flag.Int64("max-edits", 1_000_000, "stop after this many edits in total")
	bodyBytes := flag.Int("body-bytes", 2000, "size of each edited body")
	flag.Parse()
	if *workers <= 0 || *postsPer <= 0 || *duration <= 0 || *maxEdits <= 0 {
		log.Fatal("edits: -workers, -posts-per-worker, -duration and -max-edits must be positive")
	}

	ctx := context.Background()
	c, err := apiclient.New(*base, *workers*2)
	if err != nil {
		log.Fatal(err)
	}
	token, err := c.Login(ctx, *login, *password)
	if err != nil {
		log.Fatalf("edits: %v", err)
	}

	// Setup: every worker drafts its own posts.
	type post struct {
		id      string
		version uint64
	}
	posts := make([][]post, *workers)
	var wg sync.WaitGroup
	setupErr := make(chan error, *workers)
	run := time.Now().UnixNano()
	for w := range *workers {
		wg.Go(func() {
			for i := range *postsPer {
				res, err := c.Draft(ctx, token, fmt.Sprintf("Edit benchmark %d worker %d post %d", run, w, i),
					body(*bodyBytes, 0), []string{"bench"})
				if err != nil {
					setupErr <- err
					return
				}
				posts[w] = append(posts[w], post{res.ID, res.Version})
			}
		})
	}
	wg.Wait()
	close(setupErr)
	if err := <-setupErr; err != nil {
		log.Fatalf("edits: setup: %v", err)
	}
	log.Printf("edits: %d workers × %d posts drafted; editing for %s", *workers, *postsPer, *duration)

	var done, failed, conflicts atomic.Int64
	samples := make([][]time.Duration, *workers)
	deadline := time.Now().Add(*duration)
	start := time.Now()
	for w := range *workers {
		wg.Go(func() {
			mine := posts[w]
			for n := 0; time.Now().Before(deadline); n++ {
				if done.Add(1) > *maxEdits {
					done.Add(-1)
					return
				}
				p := &mine[n%len(mine)]
				t0 := time.Now()
				res, err := c.Edit(ctx, token, p.id, p.version, body(*bodyBytes, n+1), "bench edit")
				samples[w] = append(samples[w], time.Since(t0))
				if err != nil {
					done.Add(-1)
					failed.Add(1)
					if se, ok := errors.AsType[*apiclient.StatusError](err); ok && se.Status == 409 {
						conflicts.Add(1)
					}
					if failed.Load() <= 5 {
						log.Printf("edits: %v", err)
					}
					if failed.Load() > 1000 {
						return
					}
					continue
				}
				p.version = res.Version
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, s := range samples {
		all = append(all, s...)
	}
	sum := latency.Summarize(all)
	fmt.Printf("edits: workers=%d posts=%d edits=%d failed=%d conflicts=%d elapsed=%s rate=%.0f/s latency %s\n",
		*workers, *workers**postsPer, done.Load(), failed.Load(), conflicts.Load(), elapsed.Round(time.Millisecond),
		float64(done.Load())/elapsed.Seconds(), sum)
}

// body returns a markdown body of about n bytes that differs for every k.
func body(n, k int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Revision %d of a benchmark post.\n\n", k)
	for b.Len() < n {
		fmt.Fprintf(&b, "Line %d: the quick brown fox jumps over the lazy dog while revision %d is measured.\n", b.Len(), k)
	}
	return b.String()
}
