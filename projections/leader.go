package projections

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Advisory lock namespaces (the first key of PostgreSQL's two-key advisory
// locks); the second key is a hash of the projection name.
const (
	// leaderLockClass: held by the one active runner of a projection.
	leaderLockClass int32 = 0x50524a31 // "PRJ1"
	// rebuildLockClass: held by a rebuild that wants to swap tables in; a
	// runner that sees it taken yields leadership.
	rebuildLockClass int32 = 0x50524a32 // "PRJ2"
)

// lockKey derives the advisory lock key of a projection name.
func lockKey(name string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int32(h.Sum32())
}

// dedicatedConn takes a connection out of pool for good: session advisory
// locks and LISTEN must stay on one connection that the pool never hands to
// anyone else. Close it with closeConn.
func dedicatedConn(ctx context.Context, pool *pgxpool.Pool, appName string) (*pgx.Conn, error) {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire dedicated connection: %w", err)
	}
	conn := c.Hijack()
	if _, err := conn.Exec(ctx, "SELECT set_config('application_name', $1, false)", appName); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("set application name: %w", err)
	}
	return conn, nil
}

// leadershipConn returns a dedicated connection for the runner of the
// projection name: it holds the leadership lock, and moves and announces the
// checkpoint past events the projection does not apply, outside batch
// transactions (advanceCheckpoint). Its transactions commit asynchronously
// (synchronous_commit off): what it writes is either a checkpoint moved past
// events the projection ignores or a state flag the next leader resets; a
// crash that loses one costs a re-read, never a lost or doubled effect.
func leadershipConn(ctx context.Context, pool *pgxpool.Pool, name string) (*pgx.Conn, error) {
	conn, err := dedicatedConn(ctx, pool, "palimpsest projection "+name)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "SET synchronous_commit TO off"); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("leadership connection: %w", err)
	}
	return conn, nil
}

// closeConn releases a dedicated connection's session advisory locks and
// closes it. Closing alone would release them too, but only once the server
// backend has noticed the disconnect, a moment later; unlocking first makes
// a graceful stop hand leadership over at once, and status reads agree with
// it. A crashed process still releases its locks when its connection drops.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if !conn.IsClosed() {
		_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock_all()")
	}
	_ = conn.Close(ctx)
}

// tryLock attempts a session advisory lock without waiting.
func tryLock(ctx context.Context, conn *pgx.Conn, class, key int32) (bool, error) {
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", class, key).Scan(&ok); err != nil {
		return false, fmt.Errorf("try advisory lock: %w", err)
	}
	return ok, nil
}

// unlock releases a session advisory lock.
func unlock(ctx context.Context, conn *pgx.Conn, class, key int32) error {
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", class, key); err != nil {
		return fmt.Errorf("advisory unlock: %w", err)
	}
	return nil
}

// rebuildPending reports whether a rebuild of the projection holds (or is
// queued for) the rebuild lock, probing it on conn.
func rebuildPending(ctx context.Context, conn *pgx.Conn, key int32) (bool, error) {
	ok, err := tryLock(ctx, conn, rebuildLockClass, key)
	if err != nil {
		return false, err
	}
	if !ok {
		return true, nil
	}
	return false, unlock(ctx, conn, rebuildLockClass, key)
}
