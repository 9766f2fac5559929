package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// lazyTx is the transaction of a batch (from, to]. Its opening statements
// are sent ahead of the first statement the batch runs, in the same round
// trip (pgx's Batch.BeginTx):
//
//   - BEGIN, with an asynchronous commit (synchronous_commit off). Read
//     tables and checkpoint commit together, and what they are built from
//     is already durable in the event store: a crash can lose only the last
//     batches whole, rows and checkpoint alike, and the runner projects those
//     events again. So commits do not queue for WAL flushes behind each
//     other and behind the event store's appends, which do wait for theirs;
//     and the lock PostgreSQL holds from a notifying transaction's commit to
//     its end is not held through a flush (with synchronous commits,
//     notifying from the batch made the projections' commits queue behind
//     each other: 6.8 ms per commit at 300 edits/s).
//   - palimpsest_move_checkpoint (migration 0007): it locks the checkpoint
//     row, which serializes the batch with any other writer of the
//     checkpoint (a stale leader, a rebuild's swap) before it touches a read
//     table, and fails with SQLSTATE PCM01, writing nothing, when the
//     checkpoint is no longer at from.
//   - The announcement on NotifyChannel, delivered when, and only if, the
//     batch commits.
//
// A projection that batches in memory (memoryBatcher) sends nothing before
// its flush, so its batch costs two round trips, flush and COMMIT. Others
// get the statements sent on their own first (runner.begin): three.
type lazyTx struct {
	conn *pgxpool.Conn
	name string
	from eventstore.Position
	to   eventstore.Position
	n    int // events applied, for the checkpoint's count
	// tx is the transaction once the opening statements were sent;
	// beginErr is what they failed with, if they did.
	tx       pgx.Tx
	beginErr error
	closed   bool
}

// sqlStateCheckpointMoved is palimpsest_move_checkpoint's error code.
const sqlStateCheckpointMoved = "PCM01"

// lazyBegin acquires the batch's connection; nothing is sent yet.
func (r *runner) lazyBegin(ctx context.Context, from, to eventstore.Position, applied int) (*lazyTx, error) {
	c, err := r.s.cfg.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin batch: %w", err)
	}
	return &lazyTx{conn: c, name: r.p.Name(), from: from, to: to, n: applied}, nil
}

// begin opens the transaction of the batch (from, to] at once. It fails
// with errCheckpointMoved when the checkpoint is not at from.
func (r *runner) begin(ctx context.Context, from, to eventstore.Position, applied int) (pgx.Tx, error) {
	t, err := r.lazyBegin(ctx, from, to, applied)
	if err != nil {
		return nil, err
	}
	if err := t.ensure(ctx); err != nil {
		_ = t.Rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	return t, nil
}

// openingStatements is how many results withBegin reads before b's own.
const openingStatements = 4

// withBegin sends b with the opening statements ahead of it (if they were
// not sent yet) and returns the results of b's own statements.
func (t *lazyTx) withBegin(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.closed {
		return errResults{pgx.ErrTxClosed}
	}
	if t.tx != nil {
		if t.beginErr != nil {
			return errResults{t.beginErr}
		}
		return t.tx.SendBatch(ctx, b)
	}
	full := &pgx.Batch{}
	full.BeginTx(pgx.TxOptions{})
	full.Queue("SET LOCAL synchronous_commit TO off")
	full.Queue("SELECT palimpsest_move_checkpoint($1, $2, $3, $4)", t.name, int64(t.from), int64(t.to), t.n)
	full.Queue("SELECT pg_notify($1, $2)", NotifyChannel, t.name+":"+t.to.String())
	full.QueuedQueries = append(full.QueuedQueries, b.QueuedQueries...)
	br := t.conn.SendBatch(ctx, full)
	t.tx = br.Tx()
	for range openingStatements {
		if _, err := br.Exec(); err != nil {
			t.beginErr = beginError(t.from, t.to, err)
			_ = br.Close()
			return errResults{t.beginErr}
		}
	}
	return br
}

// beginError maps a failure of the opening statements.
func beginError(from, to eventstore.Position, err error) error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == sqlStateCheckpointMoved {
		return fmt.Errorf("begin batch (%d, %d]: %s: %w", from, to, pgErr.Message, errCheckpointMoved)
	}
	return fmt.Errorf("begin batch: %w", err)
}

// ensure sends the opening statements, on their own if nothing went with
// them yet.
func (t *lazyTx) ensure(ctx context.Context) error {
	if t.tx == nil {
		if err := t.withBegin(ctx, &pgx.Batch{}).Close(); err != nil {
			return err
		}
	}
	if t.closed {
		return pgx.ErrTxClosed
	}
	return t.beginErr
}

// SendBatch implements pgx.Tx.
func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return t.withBegin(ctx, b)
}

// Exec implements pgx.Tx.
func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.tx != nil {
		if err := t.ensure(ctx); err != nil {
			return pgconn.CommandTag{}, err
		}
		return t.tx.Exec(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := t.withBegin(ctx, b)
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query implements pgx.Tx.
func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.ensure(ctx); err != nil {
		return nil, err
	}
	return t.tx.Query(ctx, sql, args...)
}

// QueryRow implements pgx.Tx.
func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.ensure(ctx); err != nil {
		return errRow{err}
	}
	return t.tx.QueryRow(ctx, sql, args...)
}

// CopyFrom implements pgx.Tx.
func (t *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.ensure(ctx); err != nil {
		return 0, err
	}
	return t.tx.CopyFrom(ctx, table, columns, src)
}

// Prepare implements pgx.Tx.
func (t *lazyTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.ensure(ctx); err != nil {
		return nil, err
	}
	return t.tx.Prepare(ctx, name, sql)
}

// Begin implements pgx.Tx: a savepoint.
func (t *lazyTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.ensure(ctx); err != nil {
		return nil, err
	}
	return t.tx.Begin(ctx)
}

// LargeObjects implements pgx.Tx. Projections use no large objects; before
// the opening statements were sent it is the zero value.
func (t *lazyTx) LargeObjects() pgx.LargeObjects {
	if t.tx == nil {
		return pgx.LargeObjects{}
	}
	return t.tx.LargeObjects()
}

// Conn implements pgx.Tx.
func (t *lazyTx) Conn() *pgx.Conn { return t.conn.Conn() }

// Commit implements pgx.Tx and releases the connection.
func (t *lazyTx) Commit(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	defer t.release()
	if err := t.ensure(ctx); err != nil {
		if t.tx != nil {
			_ = t.tx.Rollback(ctx)
		}
		return err
	}
	return t.tx.Commit(ctx)
}

// Rollback implements pgx.Tx and releases the connection.
func (t *lazyTx) Rollback(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	defer t.release()
	if t.tx == nil {
		return nil
	}
	if err := t.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

// release returns the connection to the pool; one left inside a transaction
// (a failed ROLLBACK) is closed by the pool.
func (t *lazyTx) release() {
	t.closed = true
	t.conn.Release()
}

// errResults is the BatchResults of a batch that was not sent.
type errResults struct{ err error }

func (e errResults) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, e.err }
func (e errResults) Query() (pgx.Rows, error)         { return nil, e.err }
func (e errResults) QueryRow() pgx.Row                { return errRow(e) }
func (e errResults) Close() error                     { return e.err }
func (e errResults) Tx() pgx.Tx                       { return nil }

// errRow is a Row that fails with err.
type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }
