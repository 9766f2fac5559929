package projections

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Batcher is implemented by projections that can write a whole batch's rows
// in a few bulk statements instead of one or more statements per event: a
// full rebuild then costs a fraction of the round trips.
//
// A runtime that supports it calls BeginBatch before the first Apply of a
// batch and FlushBatch after the last one, both with the batch transaction
// (and the same search_path as Apply), before it writes the checkpoint. If
// FlushBatch fails the batch must be rolled back. Only Apply calls given
// that very transaction join the batch: calls with another transaction or a
// savepoint (a careful re-run, a retry after a rollback) close it unflushed
// and write directly, so a runtime that never brackets batches, or does so
// only sometimes, gets the same rows, written event by event. Between
// BeginBatch and FlushBatch, Apply buffers in memory what it can; it still
// returns errors it can detect (unknown event types, malformed streams) at
// once.
type Batcher interface {
	BeginBatch(ctx context.Context, tx pgx.Tx) error
	FlushBatch(ctx context.Context, tx pgx.Tx) error
}

// batches tracks the open batch of each connection: a connection runs one
// transaction at a time, and savepoints handed to Apply share their
// transaction's connection.
type batches[B any] struct {
	mu sync.Mutex
	m  map[*pgx.Conn]*batchOf[B]
}

type batchOf[B any] struct {
	tx   pgx.Tx              // the transaction BeginBatch was given
	last eventstore.Position // position of the last event buffered
	data B
}

// begin opens a fresh batch for tx's connection, dropping any batch a rolled
// back transaction left behind.
func (b *batches[B]) begin(tx pgx.Tx) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[*pgx.Conn]*batchOf[B]{}
	}
	b.m[tx.Conn()] = &batchOf[B]{tx: tx}
}

// open returns the batch open on tx's connection that ev may join, or nil
// (apply ev directly). A different transaction (or a savepoint) or an event
// below the batch's last position means the batch's transaction is over
// (rolled back, or being re-run without bulk mode): the batch is dropped and
// the connection goes back to direct writes. The same position again in the
// same transaction is a retry of that event and stays in the batch.
func (b *batches[B]) open(tx pgx.Tx, ev Event) *B {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.m[tx.Conn()]
	if cur == nil {
		return nil
	}
	if cur.tx != tx || ev.Position < cur.last {
		delete(b.m, tx.Conn())
		return nil
	}
	cur.last = ev.Position
	return &cur.data
}

// end closes the batch open on tx's connection and returns it, or nil when
// no batch of tx is open.
func (b *batches[B]) end(tx pgx.Tx) *B {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.m[tx.Conn()]
	delete(b.m, tx.Conn())
	if cur == nil || cur.tx != tx {
		return nil
	}
	return &cur.data
}
