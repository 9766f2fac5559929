package postgres

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// notifier announces committed appends to other processes with NOTIFY.
//
// es_append does not NOTIFY inside the append transaction: PostgreSQL
// serializes the commits of all notifying transactions on one lock held
// through the commit's WAL flush, which measured 2-4x fewer appends/s with
// 8 writers (docs/BENCHMARKS.md). Instead Append hands the position to the
// notifier after commit; one goroutine per Store sends one NOTIFY at a time
// with the highest position seen, so a burst of appends costs one NOTIFY.
// Subscriptions of the same Store are woken directly, without the round
// trip. A NOTIFY lost in a crash between commit and announcement is covered
// by the subscriptions' safety interval.
type notifier struct {
	pool    *pgxpool.Pool
	pending atomic.Uint64 // highest committed position to announce
	kick    chan struct{}
	done    chan struct{}
}

func startNotifier(ctx context.Context, pool *pgxpool.Pool) *notifier {
	n := &notifier{pool: pool, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go n.run(ctx)
	return n
}

// announce records that position p has committed.
func (n *notifier) announce(p uint64) {
	for {
		cur := n.pending.Load()
		if p <= cur || n.pending.CompareAndSwap(cur, p) {
			break
		}
	}
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	var sent uint64
	send := func(ctx context.Context) {
		if p := n.pending.Load(); p > sent {
			// Best effort: on failure subscribers elsewhere fall back to
			// their safety interval.
			if _, err := n.pool.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatUint(p, 10)); err == nil {
				sent = p
			}
		}
	}
	for {
		select {
		case <-n.kick:
			send(ctx)
		case <-ctx.Done():
			// Announce what committed before Close, briefly.
			final, cancel := context.WithTimeout(context.Background(), time.Second)
			send(final)
			cancel()
			return
		}
	}
}

// wait blocks until the notifier has stopped.
func (n *notifier) wait() { <-n.done }
