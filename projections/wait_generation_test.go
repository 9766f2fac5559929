package projections

import (
	"context"
	"testing"
	"time"
)

// A checkpoint WaitFor learns from the database, not from its announcement,
// must move the generation too: read caches keyed on it (http/readcache)
// serve a value only while the generation is the one read before computing
// it, and a caller that waited for a position must not get a value older
// than that position.
func TestWaiterGenerationMovesWhenWaitReadsNewerCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newDB(t)
	w := newWaiter(t, pool)
	if err := ensureCheckpoints(ctx, pool, []string{"quiet_v1"}); err != nil {
		t.Fatal(err)
	}
	// An announced checkpoint first, so the listener is up and the waiter
	// knows quiet_v1 at 5.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeCheckpoint(ctx, tx, "quiet_v1", 5, 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := w.WaitFor(wctx, 5, "quiet_v1"); err != nil {
		t.Fatalf("WaitFor(5) = %v", err)
	}

	// Now the checkpoint moves without an announcement reaching the waiter.
	before := w.Generation()
	if _, err := pool.Exec(ctx, `UPDATE projection_checkpoints SET position = 9 WHERE name = 'quiet_v1'`); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitFor(wctx, 9, "quiet_v1"); err != nil {
		t.Fatalf("WaitFor(9) = %v", err)
	}
	if after := w.Generation(); after == before {
		t.Fatalf("WaitFor returned on a checkpoint read from the database but the generation stayed %d", before)
	}
}
