package postgres

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"
)

// analyzeMinEvents is the least number of appended events that triggers a
// background ANALYZE (see analyzer).
const analyzeMinEvents = 1000

// analyzer emulates autovacuum's autoanalyze for the event store tables,
// which matters when autovacuum is off: the planner then never learns that
// es_events grew. It counts the events this Store appended since its last
// ANALYZE and, once they exceed max(1000, 10% of es_events' row estimate),
// runs `ANALYZE es_events, es_streams` in the background: at most one at a
// time, never blocking an append. Failures are ignored (the next threshold
// tries again).
type analyzer struct {
	pool *pgxpool.Pool
	ctx  context.Context // the Store's; ends with Close
	wg   *sync.WaitGroup // the Store's goroutines

	pending  atomic.Int64 // events appended since the last ANALYZE started
	estimate atomic.Int64 // es_events' row estimate (pg_class.reltuples)
	running  atomic.Bool
	runs     atomic.Int64 // completed ANALYZE runs
}

func newAnalyzer(ctx context.Context, pool *pgxpool.Pool, wg *sync.WaitGroup) *analyzer {
	a := &analyzer{pool: pool, ctx: ctx, wg: wg}
	a.readEstimate(ctx)
	return a
}

// readEstimate loads es_events' row estimate (-1, never analyzed, counts as 0).
func (a *analyzer) readEstimate(ctx context.Context) {
	var est float64
	err := a.pool.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = 'es_events'::regclass").Scan(&est)
	if err == nil {
		a.estimate.Store(int64(max(est, 0)))
	}
}

// threshold is the number of appended events that triggers an ANALYZE.
func (a *analyzer) threshold() int64 {
	return max(analyzeMinEvents, a.estimate.Load()/10)
}

// add records n appended events and starts an ANALYZE when they pass the
// threshold and none is running. Only the committer calls it, and never
// after Close has started waiting for the Store's goroutines.
func (a *analyzer) add(n int64) {
	if a.pending.Add(n) <= a.threshold() || !a.running.CompareAndSwap(false, true) {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer a.running.Store(false)
		counted := a.pending.Load()
		_, err := a.pool.Exec(a.ctx, "ANALYZE es_events, es_streams")
		a.pending.Add(-counted)
		if err == nil {
			a.readEstimate(a.ctx)
			a.runs.Add(1)
		}
	}()
}
