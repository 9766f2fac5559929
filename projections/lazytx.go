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

// lazyTx is the batch transaction of a projection that batches in memory
// (memoryBatcher), on the fast path. Its Apply calls only fold events, so
// the first statement the batch sends is the projection's flush: lazyTx
// sends the transaction's opening statements (BEGIN, asynchronous commit,
// palimpsest_move_checkpoint, the announcement; see runner.beginSQL) ahead
// of it, in the same round trip. A batch then costs two round trips, flush
// and COMMIT, instead of three.
//
// Savepoints (Begin) are not supported: careful re-runs use an eagerly
// begun pgx transaction.
type lazyTx struct {
	conn *pgxpool.Conn
	name string
	from eventstore.Position
	to   eventstore.Position
	n    int // events applied, for the checkpoint's count
	// begun: the opening statements were sent; beginErr: what they failed
	// with, if they did.
	begun    bool
	beginErr error
	closed   bool
}

var errLazySavepoint = errors.New("projections: savepoints are not supported on the batch fast path")

func (r *runner) lazyBegin(ctx context.Context, from, to eventstore.Position, applied int) (*lazyTx, error) {
	c, err := r.s.cfg.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin batch: %w", err)
	}
	return &lazyTx{conn: c, name: r.p.Name(), from: from, to: to, n: applied}, nil
}

// queueBegin queues the opening statements of the transaction.
func (t *lazyTx) queueBegin(b *pgx.Batch) {
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit TO off")
	b.Queue("SELECT palimpsest_move_checkpoint($1, $2, $3, $4)", t.name, int64(t.from), int64(t.to), t.n)
	b.Queue("SELECT pg_notify($1, $2)", NotifyChannel, t.name+":"+t.to.String())
}

const lazyBeginStatements = 4

// withBegin sends b with the opening statements ahead of it (if they were
// not sent yet) and returns the results of b's own statements.
func (t *lazyTx) withBegin(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.begun {
		return t.conn.SendBatch(ctx, b)
	}
	t.begun = true
	full := &pgx.Batch{}
	t.queueBegin(full)
	full.QueuedQueries = append(full.QueuedQueries, b.QueuedQueries...)
	br := t.conn.SendBatch(ctx, full)
	for range lazyBeginStatements {
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

// ensure sends the opening statements on their own, for statements that
// cannot ride with them.
func (t *lazyTx) ensure(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if t.begun {
		return t.beginErr
	}
	br := t.withBegin(ctx, &pgx.Batch{})
	if err := br.Close(); err != nil {
		return err
	}
	return t.beginErr
}

// SendBatch implements pgx.Tx.
func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.closed {
		return errResults{pgx.ErrTxClosed}
	}
	if t.beginErr != nil {
		return errResults{t.beginErr}
	}
	return t.withBegin(ctx, b)
}

// Exec implements pgx.Tx.
func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.closed {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	if t.begun {
		if t.beginErr != nil {
			return pgconn.CommandTag{}, t.beginErr
		}
		return t.conn.Exec(ctx, sql, args...)
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
	return t.conn.Query(ctx, sql, args...)
}

// QueryRow implements pgx.Tx.
func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.ensure(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

// CopyFrom implements pgx.Tx.
func (t *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.ensure(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// Prepare implements pgx.Tx.
func (t *lazyTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.ensure(ctx); err != nil {
		return nil, err
	}
	return t.conn.Conn().Prepare(ctx, name, sql)
}

// LargeObjects implements pgx.Tx; large objects are not used by projections.
func (t *lazyTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

// Begin implements pgx.Tx: savepoints are not supported (see lazyTx).
func (t *lazyTx) Begin(context.Context) (pgx.Tx, error) { return nil, errLazySavepoint }

// Conn implements pgx.Tx.
func (t *lazyTx) Conn() *pgx.Conn { return t.conn.Conn() }

// Commit implements pgx.Tx: it sends the opening statements with COMMIT if
// no statement ran yet, and releases the connection.
func (t *lazyTx) Commit(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	defer t.release()
	if t.beginErr != nil {
		_, _ = t.conn.Exec(ctx, "ROLLBACK")
		return t.beginErr
	}
	var tag pgconn.CommandTag
	var err error
	if t.begun {
		tag, err = t.conn.Exec(ctx, "COMMIT")
	} else {
		tag, err = t.Exec(ctx, "COMMIT")
		if err == nil && t.beginErr != nil {
			err = t.beginErr
		}
	}
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// Rollback implements pgx.Tx.
func (t *lazyTx) Rollback(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	defer t.release()
	if !t.begun {
		return nil
	}
	_, err := t.conn.Exec(ctx, "ROLLBACK")
	return err
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
