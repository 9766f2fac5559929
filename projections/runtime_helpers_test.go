package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

// newDB returns a fresh database with the runtime's migrations applied (the
// checkpoints table, palimpsest_move_checkpoint). It reads the SQL files
// directly so these tests do not depend on the other migrations of the tree.
func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := pgtest.NewPool(t)
	for _, f := range []string{"0001_projection_runtime.sql", "0007_move_checkpoint.sql"} {
		sql, err := os.ReadFile("../postgres/migrations/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(context.Background(), string(sql)); err != nil {
			t.Fatalf("apply %s: %v", f, err)
		}
	}
	return pool
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// testProjection records every event in <prefix>_events and a per-stream
// count in <prefix>_counts, idempotently (keyed by position). Hooks let
// tests make it fail, block or count calls.
type testProjection struct {
	name     string
	prefix   string
	prefixes []string

	calls atomic.Int64
	// hook runs before each Apply; a non-nil error fails the event.
	mu   sync.Mutex
	hook func(ctx context.Context, ev Event) error
	// after runs after the rows are written, inside the same transaction.
	after func(ctx context.Context, tx pgx.Tx, ev Event) error
}

func newTestProjection(name, prefix string, streams ...string) *testProjection {
	return &testProjection{name: name, prefix: prefix, prefixes: streams}
}

func (p *testProjection) Name() string { return p.name }
func (p *testProjection) Tables() []string {
	return []string{p.prefix + "_events", p.prefix + "_counts"}
}
func (p *testProjection) StreamPrefixes() []string { return p.prefixes }

func (p *testProjection) setHook(h func(ctx context.Context, ev Event) error) {
	p.mu.Lock()
	p.hook = h
	p.mu.Unlock()
}

func (p *testProjection) Apply(ctx context.Context, tx pgx.Tx, ev Event) error {
	p.calls.Add(1)
	p.mu.Lock()
	h := p.hook
	p.mu.Unlock()
	if h != nil {
		if err := h(ctx, ev); err != nil {
			return err
		}
	}
	var n struct {
		N int `json:"n"`
	}
	if err := json.Unmarshal(ev.Data, &n); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+p.prefix+"_events (position, event_id, stream, version, n) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (position) DO NOTHING",
		int64(ev.Position), ev.ID, ev.StreamID, int64(ev.Version), n.N); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "INSERT INTO "+p.prefix+"_counts AS c (stream, n, total, last_position) VALUES ($1, 1, $2, $3) "+
		"ON CONFLICT (stream) DO UPDATE SET n = c.n + 1, total = c.total + excluded.total, last_position = excluded.last_position "+
		"WHERE c.last_position < excluded.last_position", ev.StreamID, n.N, int64(ev.Position))
	if err != nil {
		return err
	}
	p.mu.Lock()
	after := p.after
	p.mu.Unlock()
	if after != nil {
		return after(ctx, tx, ev)
	}
	return nil
}

func (p *testProjection) createTables(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	_, err := pool.Exec(context.Background(), fmt.Sprintf(`
		CREATE TABLE %[1]s_events (position bigint PRIMARY KEY, event_id uuid NOT NULL UNIQUE, stream text NOT NULL, version bigint NOT NULL, n int NOT NULL);
		CREATE INDEX %[1]s_events_stream ON %[1]s_events (stream, version);
		CREATE TABLE %[1]s_counts (stream text PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL, last_position bigint NOT NULL);`, p.prefix))
	if err != nil {
		t.Fatalf("create tables of %s: %v", p.name, err)
	}
}

// checksum digests every row of the projection's tables.
func (p *testProjection) checksum(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var a, b string
	err := pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT
		(SELECT coalesce(md5(string_agg(e::text, ',' ORDER BY position)), '') FROM %[1]s_events e),
		(SELECT coalesce(md5(string_agg(c::text, ',' ORDER BY stream)), '') FROM %[1]s_counts c)`, p.prefix)).Scan(&a, &b)
	if err != nil {
		t.Fatalf("checksum %s: %v", p.name, err)
	}
	return a + "/" + b
}

func (p *testProjection) rowCount(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+p.prefix+"_events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// appendEvents appends n events round-robin over streams, one event per
// append, and returns the last position.
func appendEvents(t testing.TB, store eventstore.Store, streams []string, n int) eventstore.Position {
	t.Helper()
	var last eventstore.Position
	for i := 0; i < n; i++ {
		s := streams[i%len(streams)]
		res, err := store.Append(context.Background(), s, eventstore.Any, eventstore.EventData{
			ID: uuid.New(), Type: "TestHappened",
			Data:     []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Metadata: []byte(`{"actor_id":"test","schema":1}`),
		})
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		last = res.Position
	}
	return last
}

func streamsOf(prefix string, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// startRuntime runs a runtime until the returned stop is called (or the test ends).
func startRuntime(t *testing.T, cfg Config) (rt *Runtime, stop func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 50
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 5 * time.Millisecond
	}
	rt, err := NewRuntime(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("runtime: %v", err)
				}
			case <-time.After(40 * time.Second):
				t.Errorf("runtime did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return rt, stop
}

// waitFor waits up to d for the named projections to reach pos.
func waitFor(t *testing.T, w *Waiter, d time.Duration, pos eventstore.Position, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := w.WaitFor(ctx, pos, names...); err != nil {
		t.Fatalf("wait for %v to reach %d: %v", names, pos, err)
	}
}

func newWaiter(t *testing.T, pool *pgxpool.Pool) *Waiter {
	w := NewWaiter(pool, testLogger(t))
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func readCP(t *testing.T, pool *pgxpool.Pool, name string) checkpoint {
	t.Helper()
	c, err := readCheckpoint(context.Background(), pool, name, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newDBNoMigrate returns a pool that is never used for queries.
func newDBNoMigrate(t *testing.T) *pgxpool.Pool {
	pool, err := pgxpool.New(context.Background(), pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newDBB is newDB for benchmarks.
func newDBB(b *testing.B) *pgxpool.Pool {
	b.Helper()
	pool, _ := pgtest.NewPool(b)
	sql, err := os.ReadFile("../postgres/migrations/0001_projection_runtime.sql")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), string(sql)); err != nil {
		b.Fatalf("apply 0001: %v", err)
	}
	return pool
}

func createTablesB(b *testing.B, pool *pgxpool.Pool, p *testProjection) {
	b.Helper()
	_, err := pool.Exec(context.Background(), fmt.Sprintf(`
		CREATE TABLE %[1]s_events (position bigint PRIMARY KEY, event_id uuid NOT NULL UNIQUE, stream text NOT NULL, version bigint NOT NULL, n int NOT NULL);
		CREATE TABLE %[1]s_counts (stream text PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL, last_position bigint NOT NULL);`, p.prefix))
	if err != nil {
		b.Fatal(err)
	}
}

// writeCheckpoint sets name's checkpoint inside tx whatever it was (tests
// stage checkpoints with it; runners move them with
// palimpsest_move_checkpoint, see lazyTx).
func writeCheckpoint(ctx context.Context, tx pgx.Tx, name string, pos eventstore.Position, applied int) error {
	if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints
		SET position = $2, events_applied = events_applied + $3, updated_at = now()
		WHERE name = $1`, name, int64(pos), applied); err != nil {
		return fmt.Errorf("write checkpoint of %s: %w", name, err)
	}
	return nil
}
