package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// NotifyChannel is the PostgreSQL LISTEN/NOTIFY channel on which every
// checkpoint change is announced, with the payload "<name>:<position>" (or
// "<name>:<position>:failed" when a projection stops on an error).
const NotifyChannel = "palimpsest_projection_checkpoints"

// Stored checkpoint states (projection_checkpoints.state).
const (
	storedRunning    = "running"
	storedFailed     = "failed"
	storedRebuilding = "rebuilding"
)

// ErrUnknownProjection reports a projection name without a checkpoint row or
// registration.
var ErrUnknownProjection = errors.New("projections: unknown projection")

// checkpoint is one projection_checkpoints row.
type checkpoint struct {
	Name           string
	Position       eventstore.Position
	EventsApplied  uint64
	State          string
	LastError      string
	FailedPosition eventstore.Position
	FailedAt       time.Time
	RebuiltAt      time.Time
	UpdatedAt      time.Time
}

const checkpointColumns = `name, position, events_applied, state, coalesce(last_error, ''),
	coalesce(failed_position, 0), coalesce(failed_at, 'epoch'), coalesce(rebuilt_at, 'epoch'), updated_at`

func scanCheckpoint(row pgx.Row) (checkpoint, error) {
	var c checkpoint
	var pos, applied, failedPos int64
	err := row.Scan(&c.Name, &pos, &applied, &c.State, &c.LastError, &failedPos, &c.FailedAt, &c.RebuiltAt, &c.UpdatedAt)
	c.Position, c.EventsApplied, c.FailedPosition = eventstore.Position(pos), uint64(applied), eventstore.Position(failedPos)
	return c, err
}

// querier is what checkpoint helpers need: a pool, a connection or a tx.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ensureCheckpoints creates missing checkpoint rows at position 0.
func ensureCheckpoints(ctx context.Context, pool *pgxpool.Pool, names []string) error {
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name)
		SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`, names); err != nil {
		return fmt.Errorf("ensure projection checkpoints: %w", err)
	}
	return nil
}

// readCheckpoint reads one checkpoint row; ErrUnknownProjection if missing.
func readCheckpoint(ctx context.Context, q querier, name string, forUpdate bool) (checkpoint, error) {
	sql := "SELECT " + checkpointColumns + " FROM projection_checkpoints WHERE name = $1"
	if forUpdate {
		sql += " FOR UPDATE"
	}
	c, err := scanCheckpoint(q.QueryRow(ctx, sql, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("read checkpoint of %s: %w", name, ErrUnknownProjection)
	}
	if err != nil {
		return c, fmt.Errorf("read checkpoint of %s: %w", name, err)
	}
	return c, nil
}

// readCheckpoints reads the rows of names (all rows when names is empty), by name.
func readCheckpoints(ctx context.Context, q querier, names []string) ([]checkpoint, error) {
	sql := "SELECT " + checkpointColumns + " FROM projection_checkpoints"
	var args []any
	if len(names) > 0 {
		sql += " WHERE name = ANY($1)"
		args = append(args, names)
	}
	rows, err := q.Query(ctx, sql+" ORDER BY name", args...)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	var out []checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return out, nil
}

// advanceCheckpoint moves name's checkpoint from `from` to pos past events
// the projection does not apply (passed of them in its streams, counted in
// events_applied as a rebuild counts them), and announces it, in one statement outside
// any batch transaction (on the leadership connection, so its commit is
// asynchronous: losing it in a crash only means reading ignored events
// again). It fails with errCheckpointMoved when the checkpoint is no longer
// at from (a stale leader, a rebuild's swap); the statement waits for a
// concurrent writer of the row and re-checks.
func advanceCheckpoint(ctx context.Context, conn *pgx.Conn, name string, from, pos eventstore.Position, passed int) error {
	tag, err := conn.Exec(ctx, `WITH u AS (
			UPDATE projection_checkpoints SET position = $3, events_applied = events_applied + $5, updated_at = now()
			WHERE name = $1 AND position = $2 RETURNING name)
		SELECT pg_notify($4, $1 || ':' || $3::bigint) FROM u`, name, int64(from), int64(pos), NotifyChannel, passed)
	if err != nil {
		return fmt.Errorf("advance checkpoint of %s to %d: %w", name, pos, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("advance checkpoint of %s from %d: %w", name, from, errCheckpointMoved)
	}
	return nil
}

// markFailed records that name stopped on the event at pos, and announces
// the (unchanged) checkpoint with the failed flag.
func markFailed(ctx context.Context, q querier, name string, pos eventstore.Position, cause error) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	if _, err := q.Exec(ctx, `WITH u AS (
			UPDATE projection_checkpoints
			SET state = 'failed', failed_position = $2, last_error = $3, failed_at = now(), updated_at = now()
			WHERE name = $1 RETURNING position)
		SELECT pg_notify($4, $1 || ':' || position || ':failed') FROM u`, name, int64(pos), msg, NotifyChannel); err != nil {
		return fmt.Errorf("mark %s failed: %w", name, err)
	}
	return nil
}

// setRunning clears a failed or stale rebuilding state. It reports whether
// the row changed.
func setRunning(ctx context.Context, q querier, name string) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE projection_checkpoints
		SET state = 'running', last_error = NULL, failed_position = NULL, failed_at = NULL, updated_at = now()
		WHERE name = $1 AND state <> 'running'`, name)
	if err != nil {
		return false, fmt.Errorf("set %s running: %w", name, err)
	}
	return tag.RowsAffected() > 0, nil
}

// Resume clears the failed state of the projection name, so its runner (in
// whichever process holds its leadership) retries from its checkpoint within
// about a second. Resuming a projection that is not failed does nothing.
func Resume(ctx context.Context, pool *pgxpool.Pool, name string) error {
	if _, err := readCheckpoint(ctx, pool, name, false); err != nil {
		return fmt.Errorf("resume %s: %w", name, err)
	}
	if _, err := pool.Exec(ctx, `WITH u AS (
			UPDATE projection_checkpoints
			SET state = 'running', last_error = NULL, failed_position = NULL, failed_at = NULL, updated_at = now()
			WHERE name = $1 AND state = 'failed' RETURNING position)
		SELECT pg_notify($2, $1 || ':' || position) FROM u`, name, NotifyChannel); err != nil {
		return fmt.Errorf("resume %s: %w", name, err)
	}
	return nil
}
