package projections

import (
	"context"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// The index scheduler hands out the jobs of loaded tables only, the
// costliest first, and a table's ANALYZE only after its index builds.
func TestRebuildIndexScheduler(t *testing.T) {
	b := &rebuild{tables: []*scratchTable{
		{name: "small", bulk: true, indexes: []scratchIndex{{sql: "small_a"}}},
		{name: "big", bulk: true, indexes: []scratchIndex{{sql: "big_pkey", unique: true}, {sql: "big_b"}}},
		{name: "early", indexes: []scratchIndex{{sql: "early_pkey", unique: true}}}, // created before loading
	}}
	s := b.newIndexScheduler()
	if s.left != 1+1+2+1+1 {
		t.Fatalf("left = %d, want 6", s.left)
	}
	got := make(chan indexJob)
	go func() {
		j, _ := s.next()
		got <- j
	}()
	select {
	case j := <-got:
		t.Fatalf("job %+v handed out before any table was loaded", j)
	case <-time.After(50 * time.Millisecond):
	}
	s.release([]int{0, 1}, []int64{10, 1000})
	name := func(j indexJob) string {
		if j.analyze {
			return "ANALYZE " + b.tables[j.table].name
		}
		return j.sql
	}
	first := <-got // whichever the waiter took once released: a big one
	if first.table != 1 || first.analyze {
		t.Fatalf("first job %s, want one of big's indexes", name(first))
	}
	second, _ := s.next()
	if second.table != 1 || second.analyze {
		t.Fatalf("second job %s, want big's other index", name(second))
	}
	// big's ANALYZE waits for both of its indexes.
	third, _ := s.next()
	if name(third) != "small_a" {
		t.Fatalf("third job %s, want small_a", name(third))
	}
	s.done(first)
	s.done(third)
	fourth, _ := s.next()
	if name(fourth) != "ANALYZE small" {
		t.Fatalf("fourth job %s, want ANALYZE small (big has an index in flight)", name(fourth))
	}
	s.done(second)
	if j, _ := s.next(); name(j) != "ANALYZE big" {
		t.Fatalf("job %s, want ANALYZE big", name(j))
	}
	s.release([]int{2}, []int64{5})
	if j, _ := s.next(); name(j) != "ANALYZE early" {
		t.Fatalf("job %s, want ANALYZE early (its only index was created early)", name(j))
	}
	// Two jobs are still running: next waits, and stop ends the wait.
	go func() {
		j, ok := s.next()
		if ok {
			got <- j
		}
		close(got)
	}()
	time.Sleep(20 * time.Millisecond)
	s.stop()
	if j, ok := <-got; ok {
		t.Fatalf("job %s handed out after stop", name(j))
	}
}

// Once every job is done, next reports that none is left.
func TestRebuildIndexSchedulerEnds(t *testing.T) {
	b := &rebuild{tables: []*scratchTable{{name: "t", bulk: true, indexes: []scratchIndex{{sql: "t_a"}}}}}
	s := b.newIndexScheduler()
	s.release([]int{0}, []int64{1})
	for range 2 {
		j, ok := s.next()
		if !ok {
			t.Fatal("no job")
		}
		s.done(j)
	}
	if j, ok := s.next(); ok {
		t.Fatalf("job %+v after all were done", j)
	}
}

// A bulk load's fix-up statements run before its table's unique indexes
// are built, now that they are built as soon as the table is loaded: a log
// that repeats a revision number rebuilds like the live projection (the
// first row of the key kept), while other projections are still loading.
func TestRebuildBulkRepeatedKeysEqualsLive(t *testing.T) {
	t.Parallel()
	pool, store := newStoreDB(t)
	evs := postBurst(t, "rep", 6, 3)
	l := newEventLog(t)
	stream := evs[0].StreamID
	evs = append(evs, l.add(stream, editor, domain.PostEdited{PostContent: content("Again", "body", "go"), Note: "repeated", Revision: 2}))
	head := appendLog(t, store, evs)
	ps := []Projection{NewHistory(), NewPosts(), NewAudit()}
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{NewHistory()}, BatchSize: 5}
	_, stop := startRuntime(t, cfg)
	waitFor(t, newWaiter(t, pool), 30*time.Second, head, HistoryName)
	stop()
	live := map[string]string{}
	for _, table := range []string{"post_revisions", "post_history"} {
		live[table] = checksum(t, pool, table, allTables[table])
	}
	if err := Rebuild(context.Background(), RebuildConfig{Pool: pool, Store: store, Projections: ps, BatchSize: 4, Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
	for table, sum := range live {
		if got := checksum(t, pool, table, allTables[table]); got != sum {
			t.Errorf("%s after the rebuild differs from the live projection", table)
		}
	}
}
