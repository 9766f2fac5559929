// Package scheduler publishes scheduled posts when their time comes.
//
// Any number of processes may run a Scheduler; one of them leads, chosen by
// a PostgreSQL session advisory lock held on a dedicated connection, and
// only the leader works. The others retry for the lock every RetryInterval,
// so when the leader stops or its connection dies another takes over.
//
// Each tick the leader reads the due posts from the posts read table and
// publishes each through the commands layer (Publisher.PublishDue), which
// loads the post's stream and decides: a post already published, no longer
// scheduled or not due yet is a no-op. Leadership therefore only avoids
// wasted work; a post can never be published twice, because PublishDue is
// idempotent and appends at the loaded stream version. The leader ticks
// every Interval and also wakes exactly at the next scheduled time when
// that comes sooner.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
)

// Defaults for Config fields left zero.
const (
	DefaultInterval      = time.Second
	DefaultRetryInterval = time.Second
	DefaultBatchSize     = 500
)

// Advisory lock keys (PostgreSQL's two-key form): the class keeps the
// scheduler apart from the projections' and migrations' locks.
const (
	lockClass int32 = 0x53434831 // "SCH1"
	lockKey   int32 = 1
)

// closeTimeout bounds closing the dedicated connection.
const closeTimeout = 5 * time.Second

// Publisher publishes a scheduled post whose time has come; it is
// implemented by *commands.Handler.
type Publisher interface {
	PublishDue(ctx context.Context, m commands.Meta, postID string, now time.Time) (commands.Result, error)
}

// Config configures a Scheduler.
type Config struct {
	// Pool is the read-model database holding the posts table; the
	// scheduler takes one dedicated connection from it for the advisory
	// lock and its queries. Required.
	Pool *pgxpool.Pool
	// Publisher publishes due posts. Required.
	Publisher Publisher
	// Interval is the time between two ticks of the leader; 0 means
	// DefaultInterval. The leader also wakes at the next scheduled time
	// when that is sooner.
	Interval time.Duration
	// RetryInterval is how often a follower retries for leadership, and how
	// long the scheduler waits after a failure; 0 means DefaultRetryInterval.
	RetryInterval time.Duration
	// BatchSize caps the due posts published per tick; 0 means DefaultBatchSize.
	// A full batch makes the next tick run at once.
	BatchSize int
	// Now returns the current time; nil means time.Now. Tests use a fake clock.
	Now func() time.Time
	// Logger receives operational messages; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	switch {
	case c.Pool == nil:
		return errors.New("scheduler config: Pool is required")
	case c.Publisher == nil:
		return errors.New("scheduler config: Publisher is required")
	case c.Interval < 0:
		return errors.New("scheduler config: Interval must not be negative")
	case c.RetryInterval < 0:
		return errors.New("scheduler config: RetryInterval must not be negative")
	case c.BatchSize < 0:
		return errors.New("scheduler config: BatchSize must not be negative")
	}
	return nil
}

// Scheduler publishes scheduled posts when they are due. Create it with New
// and start it with Run.
type Scheduler struct {
	cfg    Config
	log    *slog.Logger
	leader atomic.Bool
}

// New returns a Scheduler for cfg, filling in defaults.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new scheduler: %w", err)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Scheduler{cfg: cfg, log: log.With("component", "scheduler")}, nil
}

// IsLeader reports whether this scheduler currently holds the leadership.
func (s *Scheduler) IsLeader() bool { return s.leader.Load() }

// Run elects, leads and publishes until ctx ends; it then releases the
// leadership and returns nil. Database failures are logged and retried
// (leadership is given up and contested again), so Run only returns early
// for a canceled context.
func (s *Scheduler) Run(ctx context.Context) error {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			closeConn(conn)
		}
	}()
	for {
		if ctx.Err() != nil {
			return nil
		}
		if conn == nil {
			c, err := s.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.Warn("scheduler connect failed", "err", err)
				if !sleep(ctx, s.cfg.RetryInterval) {
					return nil
				}
				continue
			}
			conn = c
		}
		var won bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", lockClass, lockKey).Scan(&won); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("scheduler leader election failed", "err", err)
			closeConn(conn)
			conn = nil
			if !sleep(ctx, s.cfg.RetryInterval) {
				return nil
			}
			continue
		}
		if !won {
			if !sleep(ctx, s.cfg.RetryInterval) {
				return nil
			}
			continue
		}

		s.log.Info("scheduler leadership acquired")
		s.leader.Store(true)
		err := s.lead(ctx, conn)
		s.leader.Store(false)
		// Closing the session is the one sure way to release the lock, even
		// when the connection is broken; a fresh one is opened to contest again.
		closeConn(conn)
		conn = nil
		if ctx.Err() != nil {
			s.log.Info("scheduler stopped")
			return nil
		}
		s.log.Warn("scheduler leadership lost", "err", err)
		if !sleep(ctx, s.cfg.RetryInterval) {
			return nil
		}
	}
}

// connect takes a dedicated connection out of the pool for good: a session
// advisory lock must stay on one connection nobody else uses.
func (s *Scheduler) connect(ctx context.Context) (*pgx.Conn, error) {
	c, err := s.cfg.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire scheduler connection: %w", err)
	}
	conn := c.Hijack()
	if _, err := conn.Exec(ctx, "SELECT set_config('application_name', 'palimpsest-scheduler', false)"); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("set application name: %w", err)
	}
	return conn, nil
}

// lead runs ticks while holding the lock on conn. It returns nil when ctx
// ends and an error when conn fails (the lock is then presumed lost).
func (s *Scheduler) lead(ctx context.Context, conn *pgx.Conn) error {
	for {
		next, err := s.tick(ctx, conn)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wait := s.cfg.Interval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(s.cfg.Now()), 0))
		}
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// tick publishes the posts due at the scheduler's now and returns when the
// next tick should run at the latest because of a scheduled post (zero if
// none is known). Only a failure of conn is returned as an error; a post
// that fails to publish is logged and retried on the next tick.
func (s *Scheduler) tick(ctx context.Context, conn *pgx.Conn) (time.Time, error) {
	now := s.cfg.Now()
	rows, err := conn.Query(ctx,
		`SELECT id::text FROM posts WHERE status = 'scheduled' AND scheduled_for <= $1
		 ORDER BY scheduled_for, id LIMIT $2`, now, s.cfg.BatchSize)
	if err != nil {
		return time.Time{}, fmt.Errorf("query due posts: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return time.Time{}, fmt.Errorf("query due posts: %w", err)
	}
	changed := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		if s.publish(ctx, id, now) {
			changed++
		}
	}
	if len(ids) == s.cfg.BatchSize && changed > 0 {
		return now, nil // more may be due: go again at once
	}
	var next *time.Time
	if err := conn.QueryRow(ctx,
		`SELECT min(scheduled_for) FROM posts WHERE status = 'scheduled' AND scheduled_for > $1`, now).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("query next scheduled post: %w", err)
	}
	if next == nil {
		return time.Time{}, nil
	}
	return *next, nil
}

// publish publishes one due post, logging the outcome, and reports whether
// it appended an event.
func (s *Scheduler) publish(ctx context.Context, postID string, now time.Time) bool {
	m := commands.Meta{Actor: domain.SystemActor, CorrelationID: uuid.NewString()}
	res, err := s.cfg.Publisher.PublishDue(ctx, m, postID, now)
	switch {
	case err == nil && res.Changed:
		s.log.Info("scheduled post published", "post_id", postID, "version", res.Version, "correlation_id", m.CorrelationID)
	case err == nil:
		// Already published (the read table lags) or rescheduled: nothing to do.
		s.log.Debug("scheduled post not due or already published", "post_id", postID)
	case domain.KindOf(err) == domain.KindConflict:
		// Someone changed the post meanwhile; the next tick decides again.
		s.log.Info("scheduled post changed concurrently; retrying next tick", "post_id", postID, "err", err)
	case ctx.Err() != nil:
	default:
		s.log.Error("publish scheduled post failed", "post_id", postID, "err", err)
	}
	return err == nil && res.Changed
}

// sleep waits for d or until ctx ends, reporting whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// closeConn closes a dedicated connection, which also releases its advisory lock.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}
