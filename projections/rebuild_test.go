package projections

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	espg "github.com/palimpsest-cms/palimpsest/eventstore/postgres"
)

func TestRebuildWhileWritingMissesNothing(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store, err := espg.New(context.Background(), pool, pool.Config().ConnString(), espg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	p := newTestProjection("rb_v1", "rbp")
	q := newTestProjection("rbposts_v1", "rbq", "post-")
	p.createTables(t, pool)
	q.createTables(t, pool)
	appendEvents(t, store, append(streamsOf("post-", 4), streamsOf("user-", 2)...), 600)
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{p, q}, LeaderRetryInterval: 200 * time.Millisecond}
	rt, _ := startRuntime(t, cfg)
	w := newWaiter(t, pool)

	// Writers keep appending during the whole rebuild.
	var written atomic.Int64
	written.Store(600)
	stopWriting := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			streams := []string{"post-w" + string(rune('a'+i)), "user-w" + string(rune('a'+i))}
			for {
				select {
				case <-stopWriting:
					return
				default:
				}
				appendEvents(t, store, streams, 2)
				written.Add(2)
				time.Sleep(time.Millisecond)
			}
		}(i)
	}
	var calls []uint64
	var mu sync.Mutex
	progress := func(done, total uint64) {
		mu.Lock()
		calls = append(calls, done, total)
		mu.Unlock()
	}
	for _, name := range []string{"rb_v1", "rbposts_v1"} {
		if err := rt.Rebuild(context.Background(), name, progress); err != nil {
			t.Fatalf("rebuild %s: %v", name, err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the live runners resume after the swap
	close(stopWriting)
	wg.Wait()
	head, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, 20*time.Second, head, "rb_v1", "rbposts_v1")
	total := int(written.Load())
	t.Logf("%d events written, head %d", total, head)
	if eventstore.Position(total) != head {
		t.Fatalf("head %d != events written %d", head, total)
	}
	if got := p.rowCount(t, pool); got != total {
		t.Fatalf("rb_v1 rows = %d, want %d: events missing or doubled across the swap", got, total)
	}
	var gaps int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM generate_series(1, $1::bigint) g WHERE NOT EXISTS (SELECT 1 FROM rbp_events WHERE position = g)", total).Scan(&gaps); err != nil {
		t.Fatal(err)
	}
	if gaps != 0 {
		t.Fatalf("%d positions missing from rb_v1", gaps)
	}
	c := readCP(t, pool, "rb_v1")
	if c.RebuiltAt.Unix() <= 0 || c.State != storedRunning {
		t.Errorf("checkpoint after rebuild = %+v", c)
	}
	mu.Lock()
	if len(calls) == 0 || calls[len(calls)-2] != calls[len(calls)-1] {
		t.Errorf("progress calls %v do not end at done == total", calls)
	}
	mu.Unlock()
	// Live tables after rebuild + live catch-up equal a fresh rebuild.
	for _, tp := range []*testProjection{p, q} {
		live := tp.checksum(t, pool)
		if rebuilt := rebuiltChecksum(t, cfg, tp); rebuilt != live {
			t.Errorf("%s: tables after rebuild-while-writing differ from a fresh rebuild", tp.name)
		}
	}
	// Scratch schemas are gone and statistics exist.
	var schemas int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%'").Scan(&schemas); err != nil {
		t.Fatal(err)
	}
	if schemas != 0 {
		t.Errorf("%d scratch schemas left", schemas)
	}
	var analyzed bool
	if err := pool.QueryRow(context.Background(), "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname = 'rbp_events'").Scan(&analyzed); err != nil {
		t.Fatal(err)
	}
	if !analyzed {
		t.Errorf("rbp_events not analyzed after the swap")
	}
}

func TestRebuildFailureLeavesLiveTables(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store, err := espg.New(context.Background(), pool, pool.Config().ConnString(), espg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	p := newTestProjection("rbfail_v1", "rbf")
	p.createTables(t, pool)
	head := appendEvents(t, store, streamsOf("post-", 2), 100)
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{p}}
	_, stop := startRuntime(t, cfg)
	waitFor(t, newWaiter(t, pool), 10*time.Second, head, p.name)
	stop()
	before := p.checksum(t, pool)
	p.setHook(func(_ context.Context, ev Event) error {
		if ev.Position == 60 {
			return context.DeadlineExceeded
		}
		return nil
	})
	err = Rebuild(context.Background(), RebuildConfig{Pool: pool, Store: store, Projection: p})
	if err == nil || !strings.Contains(err.Error(), "rebuild rbfail_v1") {
		t.Fatalf("rebuild = %v, want failure", err)
	}
	if got := p.checksum(t, pool); got != before {
		t.Fatal("failed rebuild changed the live tables")
	}
	if c := readCP(t, pool, p.name); c.Position != head || c.State != storedRunning {
		t.Fatalf("checkpoint after failed rebuild = %+v", c)
	}
}

func TestProgressPrinterPlain(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	pr := ProgressPrinter(&buf, "posts_v1")
	pr(0, 100)
	pr(50, 100) // suppressed: less than a few seconds later
	pr(100, 100)
	out := buf.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "posts_v1: 100/100 events (100.0%)") || strings.Contains(out, "\r") {
		t.Fatalf("progress output %q", out)
	}
}
