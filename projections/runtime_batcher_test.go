package projections

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/memory"
)

// bulkProjection is a testProjection that implements Batcher: inside a
// batch it buffers events and writes them all in FlushBatch.
type bulkProjection struct {
	*testProjection
	mu       sync.Mutex
	open     bool
	buf      []Event
	begins   atomic.Int64
	failNext atomic.Bool
}

func (b *bulkProjection) BeginBatch(_ context.Context, _ pgx.Tx) error {
	b.begins.Add(1)
	b.mu.Lock()
	b.open, b.buf = true, nil
	b.mu.Unlock()
	return nil
}

func (b *bulkProjection) Apply(ctx context.Context, tx pgx.Tx, ev Event) error {
	b.mu.Lock()
	if b.open {
		b.buf = append(b.buf, ev)
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	return b.testProjection.Apply(ctx, tx, ev)
}

func (b *bulkProjection) FlushBatch(ctx context.Context, tx pgx.Tx) error {
	b.mu.Lock()
	buf := b.buf
	b.open, b.buf = false, nil
	b.mu.Unlock()
	if b.failNext.CompareAndSwap(true, false) {
		return errors.New("flush failed once")
	}
	for _, ev := range buf {
		if err := b.testProjection.Apply(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

func TestRuntimeDrivesBatcherProjections(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	store := memory.New(eventstore.Options{})
	p := &bulkProjection{testProjection: newTestProjection("bulk_v1", "bulkp", "post-")}
	p.createTables(t, pool)
	head := appendEvents(t, store, append(streamsOf("post-", 3), "user-1"), 400)
	p.failNext.Store(true) // the first batch's flush fails: re-run event by event
	cfg := Config{Pool: pool, Store: store, Projections: []Projection{p}, BatchSize: 100}
	_, stop := startRuntime(t, cfg)
	w := newWaiter(t, pool)
	waitFor(t, w, 20*time.Second, head, p.name)
	stop()
	if got := p.rowCount(t, pool); got != 300 {
		t.Fatalf("rows = %d, want 300", got)
	}
	if c := readCP(t, pool, p.name); c.State != storedRunning || c.EventsApplied != 300 {
		t.Fatalf("checkpoint = %+v", c)
	}
	if p.begins.Load() < 2 {
		t.Fatalf("BeginBatch called %d times", p.begins.Load())
	}
	live := p.checksum(t, pool)
	before := p.begins.Load()
	if rebuilt := rebuiltChecksum(t, cfg, p.testProjection); rebuilt != live {
		t.Fatal("bulk-written tables differ from an event-by-event rebuild")
	}
	if err := Rebuild(context.Background(), RebuildConfig{Pool: pool, Store: store, Projection: p}); err != nil {
		t.Fatal(err)
	}
	if p.begins.Load() == before || p.checksum(t, pool) != live {
		t.Fatal("bulk rebuild did not use batches or differs")
	}
}
