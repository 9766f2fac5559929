package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/memory"
)

// rebuiltChecksum rebuilds p from scratch and returns its checksum.
func rebuiltChecksum(t *testing.T, cfg Config, p *testProjection) string {
	t.Helper()
	if err := Rebuild(context.Background(), RebuildConfig{Pool: cfg.Pool, Store: cfg.Store, Projection: p, BatchSize: 37, Logger: testLogger(t)}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	return p.checksum(t, cfg.Pool)
}

func TestRuntimeProjectsEveryEventOnceAndFilteredOnesMoveTheCheckpoint(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store := memory.New(eventstore.Options{})
	all := newTestProjection("all_v1", "allp")
	posts := newTestProjection("posts_only_v1", "postp", "post-")
	all.createTables(t, pool)
	posts.createTables(t, pool)
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	head := appendEvents(t, store, append(streamsOf("post-", 5), streamsOf("user-", 3)...), 800)
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{all, posts}, Metrics: metrics, LagInterval: 50 * time.Millisecond}
	rt, _ := startRuntime(t, cfg)
	w := newWaiter(t, pool)
	waitFor(t, w, 20*time.Second, head, "all_v1", "posts_only_v1")

	// Live: a user- event must still move posts_only_v1 (read-your-writes
	// for any position), and be projected by all_v1.
	live := appendEvents(t, store, []string{"user-live"}, 1)
	waitFor(t, w, 5*time.Second, live, "posts_only_v1", "all_v1")

	if got := all.rowCount(t, pool); got != 801 {
		t.Errorf("all_v1 rows = %d, want 801", got)
	}
	if got := posts.rowCount(t, pool); got != 500 {
		t.Errorf("posts_only_v1 rows = %d, want 500 (5 of 8 streams)", got)
	}
	for _, p := range []*testProjection{all, posts} {
		c := readCP(t, pool, p.name)
		if c.Position != live || c.State != storedRunning {
			t.Errorf("%s checkpoint = %d %s, want %d running", p.name, c.Position, c.State, live)
		}
	}
	if c := readCP(t, pool, "posts_only_v1"); c.EventsApplied != 500 {
		t.Errorf("posts_only_v1 events_applied = %d, want 500", c.EventsApplied)
	}

	st, err := rt.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.State != StateIdle || s.LagEvents != 0 || s.HeadPosition != live {
			t.Errorf("status %+v, want idle at head %d", s, live)
		}
	}
	// Metrics: applied counters match.
	eventually(t, 5*time.Second, "metrics", func() bool {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "palimpsest_projection_events_applied_total" {
				continue
			}
			got := map[string]float64{}
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
			return got["all_v1"] == 801 && got["posts_only_v1"] == 500
		}
		return false
	})
	// From-scratch rebuild yields identical tables.
	for _, p := range []*testProjection{all, posts} {
		before := p.checksum(t, pool)
		if after := rebuiltChecksum(t, cfg, p); after != before {
			t.Errorf("%s: live tables %s differ from a rebuild %s", p.name, before, after)
		}
	}
}

func TestKillMidBatchThenRestartEqualsRebuild(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store := memory.New(eventstore.Options{})
	p := newTestProjection("kill_v1", "killp")
	p.createTables(t, pool)
	head := appendEvents(t, store, streamsOf("post-", 7), 1000)
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{p}, BatchSize: 100}

	// Block inside the 250th Apply (mid-batch) until the runtime is killed.
	blocked := make(chan struct{})
	var n atomic.Int64
	p.setHook(func(ctx context.Context, ev Event) error {
		if n.Add(1) == 250 {
			close(blocked)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	_, stop := startRuntime(t, cfg)
	select {
	case <-blocked:
	case <-time.After(20 * time.Second):
		t.Fatal("projection never reached event 250")
	}
	stop()
	st, err := Status(context.Background(), pool, store, p.name)
	if err != nil || st[0].State != StateStopped || st[0].LagEvents == 0 || st[0].LagSeconds <= 0 {
		t.Fatalf("status after kill = %+v, %v; want stopped and lagging", st, err)
	}
	c := readCP(t, pool, p.name)
	if c.Position >= 250 {
		t.Fatalf("checkpoint after kill = %d, want a committed batch boundary below 250", c.Position)
	}
	if got := p.rowCount(t, pool); got != int(c.Position) {
		t.Fatalf("rows after kill = %d, want exactly the checkpoint's %d (batch rolled back)", got, c.Position)
	}

	p.setHook(nil)
	_, stop2 := startRuntime(t, cfg)
	w := newWaiter(t, pool)
	waitFor(t, w, 20*time.Second, head, p.name)
	stop2()
	live := p.checksum(t, pool)
	if got := p.rowCount(t, pool); got != 1000 {
		t.Fatalf("rows after restart = %d, want 1000", got)
	}
	if rebuilt := rebuiltChecksum(t, cfg, p); rebuilt != live {
		t.Errorf("tables after kill+restart %s differ from a rebuild %s", live, rebuilt)
	}
}

func TestRedeliveryChangesNothing(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store := memory.New(eventstore.Options{})
	p := newTestProjection("dup_v1", "dupp")
	p.createTables(t, pool)
	head := appendEvents(t, store, streamsOf("post-", 3), 300)
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{p}}
	_, stop := startRuntime(t, cfg)
	w := newWaiter(t, pool)
	waitFor(t, w, 20*time.Second, head, p.name)
	stop()
	want := p.checksum(t, pool)

	// The same event applied again, directly.
	recs, err := store.ReadAll(context.Background(), eventstore.ReadAllOptions{After: 41, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Decode(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := applyInSavepoint(context.Background(), tx, p, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := p.checksum(t, pool); got != want {
		t.Fatalf("applying event 42 again changed the tables")
	}

	// The whole log delivered again (checkpoint lost).
	if _, err := pool.Exec(context.Background(), "UPDATE projection_checkpoints SET position = 0 WHERE name = $1", p.name); err != nil {
		t.Fatal(err)
	}
	before := p.calls.Load()
	_, stop = startRuntime(t, cfg)
	eventually(t, 20*time.Second, "redelivery", func() bool {
		return p.calls.Load()-before >= 300 && readCP(t, pool, p.name).Position == head
	})
	stop()
	if redelivered := p.calls.Load() - before; redelivered != 300 {
		t.Fatalf("redelivered %d events, want 300", redelivered)
	}
	if got := p.checksum(t, pool); got != want {
		t.Fatalf("redelivering the log changed the tables")
	}
}

func TestPoisonEventStopsOnlyItsProjection(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store := memory.New(eventstore.Options{})
	bad := newTestProjection("bad_v1", "badp")
	good := newTestProjection("good_v1", "goodp")
	bad.createTables(t, pool)
	good.createTables(t, pool)
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	head := appendEvents(t, store, streamsOf("post-", 4), 400)
	const poison = eventstore.Position(237)
	var broken atomic.Bool
	broken.Store(true)
	var attempts atomic.Int64
	bad.setHook(func(_ context.Context, ev Event) error {
		if ev.Position == poison && broken.Load() {
			attempts.Add(1)
			return fmt.Errorf("poison at %d", ev.Position)
		}
		return nil
	})
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{bad, good}, Metrics: metrics, MaxRetries: 2}
	rt, stop := startRuntime(t, cfg)
	w := newWaiter(t, pool)
	waitFor(t, w, 20*time.Second, head, "good_v1")
	eventually(t, 10*time.Second, "bad_v1 marked failed", func() bool { return readCP(t, pool, "bad_v1").State == storedFailed })

	c := readCP(t, pool, "bad_v1")
	if c.FailedPosition != poison || !strings.Contains(c.LastError, "poison at 237") || c.Position >= poison {
		t.Fatalf("failed checkpoint = %+v, want failed at %d below it", c, poison)
	}
	if got := attempts.Load(); got != 4 {
		t.Errorf("poison attempts = %d, want 1 fast + 1 careful + 2 retries", got)
	}
	if got := bad.rowCount(t, pool); got != int(c.Position) {
		t.Errorf("bad_v1 rows = %d, want %d (its checkpoint)", got, c.Position)
	}
	// Waiting on the failed projection fails fast, not with a timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = w.WaitFor(ctx, head, "bad_v1")
	cancel()
	if !errors.Is(err, ErrProjectionFailed) {
		t.Errorf("WaitFor failed projection = %v, want ErrProjectionFailed", err)
	}
	// The other projection keeps going live.
	more := appendEvents(t, store, []string{"post-x"}, 5)
	waitFor(t, w, 5*time.Second, more, "good_v1")
	st, err := rt.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Name != "bad_v1" || st[0].State != StateFailed || st[0].FailedPosition != poison || st[0].LastError == "" {
		t.Errorf("status of bad_v1 = %+v", st[0])
	}
	if fails := counterValue(t, reg, "palimpsest_projection_failures_total", "bad_v1"); fails != 1 {
		t.Errorf("failures_total{bad_v1} = %v, want 1", fails)
	}

	// A restart retries from the checkpoint (and fails again while broken).
	stop()
	attempts.Store(0)
	_, stop = startRuntime(t, cfg)
	eventually(t, 10*time.Second, "retry after restart", func() bool { return attempts.Load() == 4 })
	eventually(t, 10*time.Second, "failed again", func() bool { return readCP(t, pool, "bad_v1").State == storedFailed })

	// Fixed: Resume continues from the right position, without a restart.
	broken.Store(false)
	if err := Resume(context.Background(), pool, "bad_v1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, 10*time.Second, more, "bad_v1")
	stop()
	if got := bad.rowCount(t, pool); got != 405 {
		t.Errorf("bad_v1 rows after resume = %d, want 405", got)
	}
	live := bad.checksum(t, pool)
	if rebuilt := rebuiltChecksum(t, cfg, bad); rebuilt != live {
		t.Errorf("bad_v1 after resume differs from a rebuild")
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, projection string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == projection {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestWaiterTimesOut(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	w := newWaiter(t, pool)
	if err := ensureCheckpoints(context.Background(), pool, []string{"idle_v1"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := w.WaitFor(ctx, 10, "idle_v1")
	if !errors.Is(err, ErrWaitTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor = %v, want ErrWaitTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %s", d)
	}
	// A notification wakes waiters without polling.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- w.WaitFor(ctx, 10, "idle_v1")
	}()
	time.Sleep(100 * time.Millisecond)
	tx, err := pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := writeCheckpoint(context.Background(), tx, "idle_v1", 12, 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitFor after checkpoint = %v", err)
	}
	if err := w.WaitFor(context.Background(), 0, "whatever"); err != nil {
		t.Fatalf("WaitFor(0) = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	p := newTestProjection("a_v1", "a")
	store := memory.New(eventstore.Options{})
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"no pool", Config{Store: store, Projections: []Projection{p}}, false},
		{"no projections", Config{Pool: newDBNoMigrate(t), Store: store}, false},
		{"duplicate", Config{Pool: newDBNoMigrate(t), Store: store, Projections: []Projection{p, p}}, false},
		{"slow leader retry", Config{Pool: newDBNoMigrate(t), Store: store, Projections: []Projection{p}, LeaderRetryInterval: 2 * time.Second}, false},
		{"ok", Config{Pool: newDBNoMigrate(t), Store: store, Projections: []Projection{p}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRuntime(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewRuntime err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestTransientFailuresAreRetriedInsideTheBatch(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store := memory.New(eventstore.Options{})
	p := newTestProjection("retry_v1", "retryp")
	p.createTables(t, pool)
	head := appendEvents(t, store, streamsOf("post-", 3), 120)
	var sqlFailed, panicked atomic.Bool
	p.mu.Lock()
	p.after = func(ctx context.Context, tx pgx.Tx, ev Event) error {
		switch {
		case ev.Position == 50 && sqlFailed.CompareAndSwap(false, true):
			// Aborts the transaction: only a savepoint rollback saves the batch.
			_, err := tx.Exec(ctx, "SELECT 1/0")
			return err
		case ev.Position == 60 && panicked.CompareAndSwap(false, true):
			panic("transient panic")
		}
		return nil
	}
	p.mu.Unlock()
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{p}, BatchSize: 500}
	_, stop := startRuntime(t, cfg)
	waitFor(t, newWaiter(t, pool), 20*time.Second, head, p.name)
	stop()
	if !sqlFailed.Load() || !panicked.Load() {
		t.Fatal("failures were not injected")
	}
	if c := readCP(t, pool, p.name); c.State != storedRunning || c.EventsApplied != 120 {
		t.Fatalf("checkpoint = %+v, want running with 120 applied", c)
	}
	if got := p.rowCount(t, pool); got != 120 {
		t.Fatalf("rows = %d, want 120", got)
	}
	p.mu.Lock()
	p.after = nil
	p.mu.Unlock()
	live := p.checksum(t, pool)
	if rebuilt := rebuiltChecksum(t, cfg, p); rebuilt != live {
		t.Fatal("tables after retried failures differ from a rebuild")
	}
}
