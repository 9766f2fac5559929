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
	"runtime/debug"
	"slices"
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
	// Projection to rebuild, alone. Its tables must exist in public.
	Projection Projection
	// Projections to rebuild together, in one pass over the log (instead
	// of, or besides, Projection). Their tables must exist in public.
	Projections []Projection
	// Progress, when set, is called as the rebuild advances with the log
	// position every projection has reached and the log head when the
	// rebuild started (equal to event counts for stores with dense
	// positions). Calls come from one goroutine at a time; the last one has
	// done == total.
	Progress func(done, total uint64)
	// BatchSize is the number of events read from the store at a time (a
	// few pages of them are held in memory while building), and applied
	// per transaction when catching up with events appended during the
	// rebuild. Default 500.
	BatchSize int
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
}

// projections returns the projections to rebuild.
func (c RebuildConfig) projections() []Projection {
	ps := slices.Clone(c.Projections)
	if c.Projection != nil {
		ps = append(ps, c.Projection)
	}
	return ps
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
	ps := c.projections()
	if len(ps) == 0 {
		errs = append(errs, errors.New("no projection to rebuild"))
	}
	names, owners := map[string]bool{}, map[string]string{}
	for _, p := range ps {
		if p == nil {
			errs = append(errs, errors.New("projection is nil"))
			continue
		}
		if names[p.Name()] {
			errs = append(errs, fmt.Errorf("projection %s given twice", p.Name()))
		}
		names[p.Name()] = true
		if len(p.Tables()) == 0 {
			errs = append(errs, fmt.Errorf("projection %s owns no tables", p.Name()))
		}
		for _, t := range p.Tables() {
			if o, ok := owners[t]; ok && o != p.Name() {
				errs = append(errs, fmt.Errorf("table %s owned by %s and %s", t, o, p.Name()))
			}
			owners[t] = p.Name()
		}
		if bl, ok := p.(BulkLoader); ok {
			var bulk []string
			for _, t := range bl.BulkTables() {
				bulk = append(bulk, t.Name)
				if len(t.Columns) == 0 {
					errs = append(errs, fmt.Errorf("projection %s: bulk table %s has no columns", p.Name(), t.Name))
				}
			}
			if !slices.Equal(bulk, p.Tables()) {
				errs = append(errs, fmt.Errorf("projection %s: bulk tables %v are not its tables %v", p.Name(), bulk, p.Tables()))
			}
		}
	}
	if c.BatchSize < 0 {
		errs = append(errs, errors.New("batch size must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("rebuild config: %w", errors.Join(errs...))
	}
	return nil
}

// RebuildMemoryLimit is the soft memory limit (runtime/debug.SetMemoryLimit)
// a process that runs Rebuild should set when GOMEMLIMIT does not: the
// rebuild's live heap stays well under it, but with the default GC pacing
// alone its peak RSS grew with the log (151–172 MiB at 1.04M events, 215 MiB
// at 1.3M) towards the 200 MiB the rebuild is allowed. With the limit: 162
// MiB at 1.32M events, at no measurable cost in CPU (docs/BENCHMARKS.md).
const RebuildMemoryLimit = 150 << 20

// LimitRebuildMemory sets RebuildMemoryLimit unless GOMEMLIMIT is set.
func LimitRebuildMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(RebuildMemoryLimit)
	}
}

// Rebuild rebuilds projections from the whole log with zero downtime,
// blue/green: it creates empty copies of the projections' tables in a
// scratch schema and fills them there while the live tables keep serving
// (and the live runners keep updating them). Then it takes the projections'
// leadership (their live runners, in any process, yield within about a
// second and pause), applies the events appended meanwhile, and in one
// transaction drops the old tables, moves the new ones into public and sets
// the checkpoints, and hands leadership back. The new tables are analyzed
// before the swap. A failed rebuild leaves the live tables untouched.
//
// Several projections rebuild in one pass over the log: every page is read
// and decoded once (payloads only for events a projection reads) by a reader
// and decoders running ahead, while each projection writes on its own
// connection. Projections that implement BulkLoader are loaded with binary
// COPY into tables without indexes, which are built afterwards (as soon as
// a projection's tables are loaded, while the others may still be loading,
// several at a time); the others go through Apply (and Batcher) in large
// transactions. Commits while building are asynchronous
// (synchronous_commit off): a crash loses at most a rebuild that had not
// swapped yet, which is dropped anyway. Events appended while building are
// applied before the projections pause, so the pause only covers the last
// few.
//
// The new tables keep the names of the live tables' indexes and
// constraints.
func Rebuild(ctx context.Context, cfg RebuildConfig) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ps := cfg.projections()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name()
	}
	label := strings.Join(names, ", ")
	log := cfg.Logger.With("projections", label)
	defer func() {
		if err != nil {
			err = fmt.Errorf("rebuild %s: %w", label, err)
		}
	}()
	if err := ensureCheckpoints(ctx, cfg.Pool, names); err != nil {
		return err
	}
	scratch, err := scratchSchema(strings.Join(names, "_"))
	if err != nil {
		return err
	}
	start := time.Now()
	b := &rebuild{cfg: cfg, ps: ps, scratch: scratch, applied: make([]uint64, len(ps))}
	if err := b.createScratch(ctx); err != nil {
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
	b.total, err = cfg.Store.Head(ctx)
	if err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	log.Info("rebuild: building fresh tables", "schema", scratch, "head", b.total)
	if err := b.build(ctx); err != nil {
		return err
	}
	indexed := time.Now()
	// The indexes of the tables loaded first are built while the others
	// are still loading: "took" of the second line is what is left after
	// the last table is loaded.
	log.Info("rebuild: log loaded", "position", b.pos, "took", b.loadedAt.Sub(start).Round(time.Millisecond))
	log.Info("rebuild: indexes built and tables analyzed", "took", indexed.Sub(b.loadedAt).Round(time.Millisecond))

	// Catch up with what was appended meanwhile, still without pausing.
	if err := b.catchUpUnlocked(ctx); err != nil {
		return err
	}

	// Phase 2: take leadership (live runners yield), catch up and swap.
	conn, err := dedicatedConn(ctx, cfg.Pool, "palimpsest projection rebuild")
	if err != nil {
		return err
	}
	defer closeConn(conn) // releases every lock
	sorted := slices.Sorted(slices.Values(names))
	for _, name := range sorted {
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", rebuildLockClass, lockKey(name)); err != nil {
			return fmt.Errorf("take rebuild lock of %s: %w", name, err)
		}
	}
	if _, err := conn.Exec(ctx, "UPDATE projection_checkpoints SET state = 'rebuilding', updated_at = now() WHERE name = ANY($1)", names); err != nil {
		return fmt.Errorf("mark rebuilding: %w", err)
	}
	defer func() {
		if err != nil {
			// Leave the live projections as they were: running (or failed,
			// which the next leader retries anyway).
			for _, name := range names {
				_, _ = setRunning(context.WithoutCancel(ctx), conn, name)
			}
		}
	}()
	log.Info("rebuild: waiting for the live runners to pause")
	for _, name := range sorted {
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", leaderLockClass, lockKey(name)); err != nil {
			return fmt.Errorf("take leadership of %s: %w", name, err)
		}
	}
	paused := time.Now()
	head, err := cfg.Store.Head(ctx)
	if err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	tx, err := cfg.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin swap: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for _, name := range names {
		if _, err := readCheckpoint(ctx, tx, name, true); err != nil {
			return err
		}
	}
	caughtUp := b.pos
	if err := b.catchUp(ctx, head, func(ctx context.Context, apply func(pgx.Tx) error) error { return apply(tx) }); err != nil {
		return err
	}
	for _, p := range ps {
		for _, t := range p.Tables() {
			if _, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{"public", t}.Sanitize()); err != nil {
				return fmt.Errorf("swap: drop old %s: %w", t, err)
			}
			if _, err := tx.Exec(ctx, "ALTER TABLE "+pgx.Identifier{scratch, t}.Sanitize()+" SET SCHEMA public"); err != nil {
				return fmt.Errorf("swap: move new %s: %w", t, err)
			}
		}
	}
	for i, name := range names {
		if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints
			SET position = $2, events_applied = $3, state = 'running', last_error = NULL,
			    failed_position = NULL, failed_at = NULL, rebuilt_at = now(), updated_at = now()
			WHERE name = $1`, name, int64(head), int64(b.applied[i])); err != nil {
			return fmt.Errorf("swap: set checkpoint of %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", NotifyChannel, name+":"+head.String()); err != nil {
			return fmt.Errorf("swap: notify: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("swap: commit: %w", err)
	}
	log.Info("rebuild: swapped fresh tables in", "position", head, "events_after_pause", uint64(head-min(head, caughtUp)),
		"paused", time.Since(paused).Round(time.Millisecond), "took", time.Since(start).Round(time.Millisecond))
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
	ended := false
	return func(done, total uint64) {
		now := time.Now()
		finished := done >= total
		if finished && ended {
			return // catching up after the end: said already
		}
		ended = finished
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
