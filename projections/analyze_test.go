package projections

import (
	"context"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/memory"
)

func TestRuntimeAnalyzesTablesAfterManyEvents(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store := memory.New(eventstore.Options{})
	p := newTestProjection("analyzed_v1", "anp")
	p.createTables(t, pool)
	ctx := context.Background()
	// Make sure only the runtime can refresh the statistics.
	for _, table := range p.Tables() {
		if _, err := pool.Exec(ctx, "ALTER TABLE "+table+" SET (autovacuum_enabled = false)"); err != nil {
			t.Fatal(err)
		}
	}
	reltuples := func() (events, counts float64) {
		t.Helper()
		err := pool.QueryRow(ctx, `SELECT (SELECT reltuples FROM pg_class WHERE oid = 'anp_events'::regclass),
			(SELECT reltuples FROM pg_class WHERE oid = 'anp_counts'::regclass)`).Scan(&events, &counts)
		if err != nil {
			t.Fatal(err)
		}
		return events, counts
	}
	if e, c := reltuples(); e >= 0 || c >= 0 {
		t.Fatalf("fresh tables already have statistics: %v, %v", e, c)
	}
	streams := streamsOf("an-", 7)
	head := appendEvents(t, store, streams, 900)
	startRuntime(t, Config{Pool: pool, Store: store, Projections: []Projection{p}, BatchSize: 100})
	w := newWaiter(t, pool)
	waitFor(t, w, 20*time.Second, head, p.name)
	time.Sleep(200 * time.Millisecond)
	if e, c := reltuples(); e >= 0 || c >= 0 {
		t.Fatalf("analyzed below the threshold (900 events): %v, %v", e, c)
	}
	head = appendEvents(t, store, streams, 200)
	waitFor(t, w, 20*time.Second, head, p.name)
	eventually(t, 20*time.Second, "ANALYZE after 1,100 events", func() bool {
		// It runs after the batch that passed 1,000 events committed.
		e, c := reltuples()
		return e > 1000 && e <= 1100 && c == 7
	})
	// autovacuum is off for these tables, so the runtime vacuums them too.
	eventually(t, 20*time.Second, "VACUUM of tables autovacuum does not cover", func() bool {
		var n int64
		if err := pool.QueryRow(ctx, `SELECT coalesce(sum(vacuum_count), 0) FROM pg_stat_user_tables
			WHERE relid IN ('anp_events'::regclass, 'anp_counts'::regclass)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 2
	})
}

func TestAnalyzerWaitsForTheNaptimeUnlessBurstOrEmpty(t *testing.T) {
	t.Parallel()
	a := newTableAnalyzer(nil, []string{"t"}, discard(), nil)
	a.estimate.Store(20000) // threshold 2,000
	if a.due(2000) {
		t.Error("due at the threshold")
	}
	if a.due(2500) {
		t.Error("due within the naptime of the last ANALYZE")
	}
	if !a.due(analyzeBurst * 2000) {
		t.Error("a burst of events must not wait for the naptime")
	}
	a.last.Store(time.Now().Add(-analyzeNaptime).UnixNano())
	if !a.due(2500) {
		t.Error("not due after the naptime")
	}
	a.last.Store(time.Now().UnixNano())
	a.estimate.Store(0) // empty (or never analyzed) tables: at once
	if !a.due(1001) {
		t.Error("empty tables must be analyzed once the threshold is passed")
	}
}
