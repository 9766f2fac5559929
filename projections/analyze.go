package projections

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// analyzeMinEvents is the least number of applied events that triggers a
// background ANALYZE of a projection's tables (see tableAnalyzer).
const analyzeMinEvents = 1000

// analyzeNaptime is the least time between two ANALYZE runs of a
// projection's non-empty tables below analyzeBurst thresholds' worth of
// events: autovacuum's default naptime. Live edits churn the same rows and
// barely move the statistics, while an ANALYZE of posts (its tsvector
// column) costs about a second of a core on the 20,000-post benchmark
// database, three times in 20 s at 300 edits/s, stalling the projections'
// batches behind it.
const analyzeNaptime = time.Minute

// analyzeBurst: that many thresholds' worth of events (a catch-up, a bulk
// load) trigger an ANALYZE regardless of the naptime.
const analyzeBurst = 10

// tableAnalyzer emulates autovacuum's autoanalyze (and, where autovacuum
// is off for them, its vacuum) for one projection's tables, which matters when autovacuum is off (or slow to notice a big
// catch-up): read queries planned on stale statistics can be an order of
// magnitude slower (DESIGN.md §6). It counts the events the projection
// applied since its last ANALYZE and, once they exceed max(1000, 10% of the
// tables' row estimate) and, like autovacuum, the last ANALYZE is at least
// analyzeNaptime old (unless the tables were empty or analyzeBurst times
// that many events came), runs ANALYZE on the tables in the background,
// after the batch committed and outside its transaction: at most one at a
// time per projection, never blocking a batch. Failures are logged and
// retried at the next threshold.
type tableAnalyzer struct {
	pool   *pgxpool.Pool
	tables []string
	log    *slog.Logger
	wg     *sync.WaitGroup // the Subscriber's goroutines

	pending  atomic.Int64 // events applied since the last ANALYZE started
	estimate atomic.Int64 // the tables' row estimate; -1 until read
	running  atomic.Bool
	runs     atomic.Int64 // completed ANALYZE runs
	last     atomic.Int64 // when the last ANALYZE started (or the analyzer was made), Unix ns
}

func newTableAnalyzer(pool *pgxpool.Pool, tables []string, log *slog.Logger, wg *sync.WaitGroup) *tableAnalyzer {
	a := &tableAnalyzer{pool: pool, tables: tables, log: log, wg: wg}
	a.estimate.Store(-1)
	a.last.Store(time.Now().UnixNano())
	return a
}

// due reports whether pending events justify an ANALYZE now (the threshold
// is passed): always for empty tables (or not yet estimated: the caller
// estimates and asks again) or a burst, else once the naptime is over.
func (a *tableAnalyzer) due(pending int64) bool {
	if pending <= a.threshold() {
		return false
	}
	return a.estimate.Load() <= 0 || pending >= analyzeBurst*a.threshold() ||
		time.Since(time.Unix(0, a.last.Load())) >= analyzeNaptime
}

// threshold is the number of applied events that triggers an ANALYZE.
func (a *tableAnalyzer) threshold() int64 {
	return max(analyzeMinEvents, a.estimate.Load()/10)
}

// add records n applied (committed) events and starts an ANALYZE when they
// pass the threshold and none is running. ctx bounds the ANALYZE. The caller
// must itself be counted in wg (a runner goroutine), so the WaitGroup never
// grows from zero while Close waits.
func (a *tableAnalyzer) add(ctx context.Context, n int) {
	if len(a.tables) == 0 || n <= 0 {
		return
	}
	if !a.due(a.pending.Add(int64(n))) || !a.running.CompareAndSwap(false, true) {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer a.running.Store(false)
		if a.estimate.Load() < 0 {
			// First time: the threshold depends on the tables' size.
			a.readEstimate(ctx)
			if !a.due(a.pending.Load()) {
				return
			}
		}
		a.last.Store(time.Now().UnixNano())
		counted := a.pending.Load()
		idents := make([]string, len(a.tables))
		for i, t := range a.tables {
			idents[i] = pgx.Identifier{t}.Sanitize()
		}
		// Where autovacuum does not cover the tables, nothing else would
		// reclaim the dead rows that every update of a read model leaves
		// (a posts row per edit): vacuum them too, or scans and index
		// lookups slow down run after run.
		stmt := "ANALYZE "
		if !a.autovacuumed(ctx) {
			stmt = "VACUUM (ANALYZE) "
		}
		_, err := a.pool.Exec(ctx, stmt+strings.Join(idents, ", "))
		a.pending.Add(-counted)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("analyze projection tables", "tables", a.tables, "err", err)
			}
			return
		}
		a.readEstimate(ctx)
		a.runs.Add(1)
		a.log.Debug("analyzed projection tables", "statement", strings.TrimSpace(stmt), "tables", a.tables, "events", counted)
	}()
}

// autovacuumed reports whether autovacuum runs for every one of the tables
// (the server setting and the tables' autovacuum_enabled option). Unknown
// (an error) counts as yes: ANALYZE alone is the cheaper mistake.
func (a *tableAnalyzer) autovacuumed(ctx context.Context) bool {
	on := true
	err := a.pool.QueryRow(ctx, `SELECT current_setting('autovacuum')::bool AND coalesce(bool_and(
			NOT coalesce(c.reloptions @> ARRAY['autovacuum_enabled=false'], false)), true)
		FROM unnest($1::text[]) AS t(name) JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name))`, a.tables).Scan(&on)
	return err != nil || on
}

// readEstimate loads the sum of the tables' row estimates (never analyzed
// counts as 0).
func (a *tableAnalyzer) readEstimate(ctx context.Context) {
	var est float64
	err := a.pool.QueryRow(ctx, `SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::float8
		FROM unnest($1::text[]) AS t(name) JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name))`, a.tables).Scan(&est)
	if err == nil {
		a.estimate.Store(int64(est))
	}
}
