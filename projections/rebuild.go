package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/term"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// RebuildConfig configures Rebuild.
type RebuildConfig struct {
	// Pool is the read-model database.
	Pool *pgxpool.Pool
	// Store is the event store to replay.
	Store eventstore.Store
	// Projection to rebuild. Its tables must exist in public.
	Projection Projection
	// Progress, when set, is called after every batch with the log position
	// reached and the log head when the rebuild started (equal to event
	// counts for stores with dense positions).
	Progress func(done, total uint64)
	// BatchSize is the number of events read and applied per transaction
	// while building. Default 1000.
	BatchSize int
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
}

// Validate checks the configuration.
func (c RebuildConfig) Validate() error {
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("pool is nil"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("store is nil"))
	}
	if c.Projection == nil {
		errs = append(errs, errors.New("projection is nil"))
	} else if len(c.Projection.Tables()) == 0 {
		errs = append(errs, fmt.Errorf("projection %s owns no tables", c.Projection.Name()))
	}
	if c.BatchSize < 0 {
		errs = append(errs, errors.New("batch size must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("rebuild config: %w", errors.Join(errs...))
	}
	return nil
}

// Rebuild rebuilds a projection from the whole log with zero downtime,
// blue/green: it creates empty copies of the projection's tables in a scratch
// schema and applies the log there while the live tables keep serving (and
// the live runner keeps updating them). Then it takes the projection's
// leadership (the live runner, in any process, yields within about a second
// and pauses), applies the events appended meanwhile, and in one transaction
// drops the old tables, moves the new ones into public and sets the
// checkpoint; finally it runs ANALYZE on them and hands leadership back.
// A failed rebuild leaves the live tables untouched.
//
// Index and constraint names of the new tables are the ones PostgreSQL
// generates for CREATE TABLE … (LIKE … INCLUDING ALL), which can differ from
// names chosen in the migration; do not depend on them.
func Rebuild(ctx context.Context, cfg RebuildConfig) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := cfg.Projection
	name := p.Name()
	log := cfg.Logger.With("projection", name)
	defer func() {
		if err != nil {
			err = fmt.Errorf("rebuild %s: %w", name, err)
		}
	}()
	if err := ensureCheckpoints(ctx, cfg.Pool, []string{name}); err != nil {
		return err
	}
	scratch, err := scratchSchema(name)
	if err != nil {
		return err
	}
	if err := createScratch(ctx, cfg.Pool, scratch, p.Tables()); err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, derr := cfg.Pool.Exec(dctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{scratch}.Sanitize()+" CASCADE"); derr != nil {
			log.Warn("rebuild: drop scratch schema", "schema", scratch, "err", derr)
		}
	}()

	// Blue/green, phase 1: build from the whole log without pausing anyone.
	total, err := cfg.Store.Head(ctx)
	if err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	log.Info("rebuild: building fresh tables", "schema", scratch, "head", total)
	b := &builder{cfg: cfg, scratch: scratch, total: total}
	for b.pos < total {
		tx, err := cfg.Pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		_, err = b.apply(ctx, tx, total, cfg.BatchSize)
		if err == nil {
			err = tx.Commit(ctx)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return err
		}
	}

	// Phase 2: take leadership (live runners yield), catch up and swap.
	conn, err := dedicatedConn(ctx, cfg.Pool, "palimpsest projection rebuild "+name)
	if err != nil {
		return err
	}
	defer closeConn(conn) // releases both locks
	key := lockKey(name)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", rebuildLockClass, key); err != nil {
		return fmt.Errorf("take rebuild lock: %w", err)
	}
	if _, err := conn.Exec(ctx, "UPDATE projection_checkpoints SET state = 'rebuilding', updated_at = now() WHERE name = $1", name); err != nil {
		return fmt.Errorf("mark rebuilding: %w", err)
	}
	defer func() {
		if err != nil {
			// Leave the live projection as it was: running (or failed, which
			// the next leader retries anyway).
			_, _ = setRunning(context.WithoutCancel(ctx), conn, name)
		}
	}()
	log.Info("rebuild: waiting for the live runner to pause")
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", leaderLockClass, key); err != nil {
		return fmt.Errorf("take leadership: %w", err)
	}
	head, err := cfg.Store.Head(ctx)
	if err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	tx, err := cfg.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin swap: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := readCheckpoint(ctx, tx, name, true); err != nil {
		return err
	}
	for b.pos < head {
		if _, err := b.apply(ctx, tx, head, cfg.BatchSize); err != nil {
			return err
		}
	}
	for _, t := range p.Tables() {
		if _, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{"public", t}.Sanitize()); err != nil {
			return fmt.Errorf("swap: drop old %s: %w", t, err)
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE "+pgx.Identifier{scratch, t}.Sanitize()+" SET SCHEMA public"); err != nil {
			return fmt.Errorf("swap: move new %s: %w", t, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints
		SET position = $2, events_applied = $3, state = 'running', last_error = NULL,
		    failed_position = NULL, failed_at = NULL, rebuilt_at = now(), updated_at = now()
		WHERE name = $1`, name, int64(head), int64(b.applied)); err != nil {
		return fmt.Errorf("swap: set checkpoint: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", NotifyChannel, name+":"+head.String()); err != nil {
		return fmt.Errorf("swap: notify: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("swap: commit: %w", err)
	}
	log.Info("rebuild: swapped fresh tables in", "position", head, "events_applied", b.applied)
	// Fresh tables have no statistics: plan quality collapses without them.
	for _, t := range p.Tables() {
		if _, err := cfg.Pool.Exec(ctx, "ANALYZE "+pgx.Identifier{"public", t}.Sanitize()); err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return nil
}

// scratchSchema names a fresh scratch schema for a rebuild of name.
func scratchSchema(name string) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("scratch schema name: %w", err)
	}
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, strings.ToLower(name))
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return "rebuild_" + clean + "_" + hex.EncodeToString(b[:]), nil
}

func createScratch(ctx context.Context, pool *pgxpool.Pool, scratch string, tables []string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{scratch}.Sanitize()); err != nil {
			return fmt.Errorf("create scratch schema: %w", err)
		}
		for _, t := range tables {
			if _, err := tx.Exec(ctx, "CREATE TABLE "+pgx.Identifier{scratch, t}.Sanitize()+
				" (LIKE "+pgx.Identifier{"public", t}.Sanitize()+" INCLUDING ALL)"); err != nil {
				return fmt.Errorf("create scratch table %s: %w", t, err)
			}
		}
		return nil
	})
}

// builder replays the log into the scratch tables.
type builder struct {
	cfg     RebuildConfig
	scratch string
	total   eventstore.Position
	pos     eventstore.Position // last position taken into account
	applied uint64
}

// apply reads up to limit events after b.pos (none beyond until) and
// applies the projection's ones in tx with the scratch schema first on the
// search path. It returns how many events it read.
func (b *builder) apply(ctx context.Context, tx pgx.Tx, until eventstore.Position, limit int) (int, error) {
	p := b.cfg.Projection
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)",
		pgx.Identifier{b.scratch}.Sanitize()+", public"); err != nil {
		return 0, fmt.Errorf("set search path: %w", err)
	}
	recs, err := b.cfg.Store.ReadAll(ctx, eventstore.ReadAllOptions{After: b.pos, Limit: limit})
	if err != nil {
		return 0, fmt.Errorf("read log after %d: %w", b.pos, err)
	}
	batcher, bulk := p.(Batcher)
	if bulk {
		if err := batcher.BeginBatch(ctx, tx); err != nil {
			return 0, fmt.Errorf("begin bulk batch: %w", err)
		}
	}
	n := 0
	for _, rec := range recs {
		if rec.Position > until {
			break
		}
		n++
		if eventstore.MatchesPrefix(rec.StreamID, p.StreamPrefixes()) {
			ev, err := Decode(rec)
			if err != nil {
				return n, err
			}
			if err := p.Apply(ctx, tx, ev); err != nil {
				return n, fmt.Errorf("apply %s event at %d: %w", rec.Type, rec.Position, err)
			}
			b.applied++
		}
		b.pos = rec.Position
	}
	if bulk {
		if err := batcher.FlushBatch(ctx, tx); err != nil {
			return n, fmt.Errorf("flush bulk batch up to %d: %w", b.pos, err)
		}
	}
	if len(recs) < limit || n < len(recs) {
		// Nothing more up to until (positions need not be dense).
		b.pos = max(b.pos, until)
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', 'public', true)"); err != nil {
		return n, fmt.Errorf("reset search path: %w", err)
	}
	if b.cfg.Progress != nil {
		b.cfg.Progress(uint64(min(b.pos, b.total)), uint64(b.total))
	}
	return n, nil
}

// ProgressPrinter returns a Rebuild progress callback writing to w: on a
// terminal a one-line bar (events done of total, rate, ETA) redrawn in place;
// otherwise a plain line every few seconds and at the end.
func ProgressPrinter(w io.Writer, name string) func(done, total uint64) {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	start := time.Now()
	var last time.Time
	return func(done, total uint64) {
		now := time.Now()
		finished := done >= total
		if tty {
			if !finished && now.Sub(last) < 100*time.Millisecond {
				return
			}
		} else if !finished && now.Sub(last) < 3*time.Second {
			return
		}
		last = now
		elapsed := now.Sub(start).Seconds()
		rate := 0.0
		if elapsed > 0 {
			rate = float64(done) / elapsed
		}
		eta := "?"
		if rate > 0 && total >= done {
			eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
		}
		pct := 100.0
		if total > 0 {
			pct = 100 * float64(done) / float64(total)
		}
		if tty {
			const width = 30
			fill := int(pct / 100 * width)
			bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
			fmt.Fprintf(w, "\r%s [%s] %d/%d events %5.1f%% %.0f ev/s ETA %s\033[K", name, bar, done, total, pct, rate, eta)
			if finished {
				fmt.Fprintln(w)
			}
			return
		}
		fmt.Fprintf(w, "%s: %d/%d events (%.1f%%), %.0f ev/s, ETA %s\n", name, done, total, pct, rate, eta)
	}
}
