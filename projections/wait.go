package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// ErrWaitTimeout reports that projections did not reach a position before
// the wait's context ended. The HTTP layer maps it to 503 + Retry-After.
var ErrWaitTimeout = errors.New("projections: timed out waiting for position")

// ErrProjectionFailed reports that a projection waited for is stopped on a
// failing event below the position, so waiting cannot succeed.
var ErrProjectionFailed = errors.New("projections: projection failed")

// waiterRecheck is how often a waiter re-reads checkpoints from the
// database anyway, covering notifications lost while the listener reconnects.
const waiterRecheck = time.Second

// Waiter waits for projections to reach log positions (read-your-writes).
// It keeps one LISTEN connection on NotifyChannel and a cache of the
// announced checkpoints, so WaitFor calls are cheap while they wait: create
// one Waiter per process and share it.
type Waiter struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu      sync.Mutex
	known   map[string]waitState
	changed chan struct{} // closed and replaced on every notification
	// gen counts notifications and cache resets; read caches key on it.
	gen atomic.Uint64

	cancel context.CancelFunc
	done   chan struct{}
}

type waitState struct {
	pos    eventstore.Position
	failed bool
}

// NewWaiter starts a Waiter listening on pool's database. Close it when done.
func NewWaiter(pool *pgxpool.Pool, logger *slog.Logger) *Waiter {
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Waiter{pool: pool, log: logger, known: map[string]waitState{}, changed: make(chan struct{}),
		cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.listen(ctx)
	}()
	return w
}

// Generation returns a number that changes whenever a projection announces
// a new checkpoint (after the transaction that moved it committed), whenever
// WaitFor reads a newer checkpoint from the database than was announced, and
// whenever the listener reconnects (announcements may have been lost). A
// value read from read models after Generation returned g reflects every
// commit announced before; while Generation still returns g, nothing newer
// has been announced, so the value may be served again. Once WaitFor
// returned for a position, the generation differs from every one read
// before that position's commit. See http/readcache.
func (w *Waiter) Generation() uint64 { return w.gen.Load() }

// Close stops the listener.
func (w *Waiter) Close() error {
	w.cancel()
	<-w.done
	return nil
}

func (w *Waiter) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := w.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		w.log.Warn("projection waiter: listener lost; reconnecting", "err", err)
		w.forget()
		sleep(ctx, 200*time.Millisecond)
	}
}

func (w *Waiter) listenOnce(ctx context.Context) error {
	conn, err := dedicatedConn(ctx, w.pool, "palimpsest projection waiter")
	if err != nil {
		return err
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Notifications before LISTEN are lost: re-read on the next wait.
	w.forget()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		w.announce(n.Payload)
	}
}

// announce applies a "<name>:<pos>[:failed]" payload.
func (w *Waiter) announce(payload string) {
	parts := strings.Split(payload, ":")
	if len(parts) < 2 {
		return
	}
	pos, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return
	}
	failed := len(parts) > 2 && parts[2] == storedFailed
	w.mu.Lock()
	st := w.known[parts[0]]
	st.pos = max(st.pos, eventstore.Position(pos))
	st.failed = failed
	w.known[parts[0]] = st
	w.gen.Add(1)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// forget drops the cache (it may have missed notifications) and wakes waiters.
func (w *Waiter) forget() {
	w.mu.Lock()
	w.known = map[string]waitState{}
	w.gen.Add(1)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// check returns, according to the cache, the names that have not reached
// pos, whether some of them are not cached at all, a failure error if a named
// projection failed below pos, and the channel closed on the next change.
func (w *Waiter) check(pos eventstore.Position, names []string) (missing []string, unknown bool, err error, ch <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range names {
		st, ok := w.known[n]
		switch {
		case !ok:
			unknown = true
			missing = append(missing, n)
		case st.pos >= pos:
		case st.failed:
			return nil, false, fmt.Errorf("wait for %s to reach %d: %w (stopped at %d)", n, pos, ErrProjectionFailed, st.pos), w.changed
		default:
			missing = append(missing, n)
		}
	}
	return missing, unknown, nil, w.changed
}

// refresh reads the checkpoints of names from the database into the cache.
// The database row is authoritative for the failed flag.
func (w *Waiter) refresh(ctx context.Context, names []string) error {
	cps, err := readCheckpoints(ctx, w.pool, names)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	advanced := false
	for _, c := range cps {
		st := w.known[c.Name] // positions only grow: keep the larger
		advanced = advanced || c.Position > st.pos
		st.pos = max(st.pos, c.Position)
		st.failed = c.State == storedFailed
		w.known[c.Name] = st
	}
	if advanced {
		// A checkpoint learned here rather than from its announcement
		// (still in flight, or lost) moves the generation too: WaitFor may
		// return on it, and its caller must then not be served a cached
		// value computed before that commit (see Generation).
		w.gen.Add(1)
	}
	return nil
}

// WaitFor returns nil once every named projection's checkpoint is at or
// beyond pos. It fails with an error matching ErrWaitTimeout (and the
// context's error) when ctx ends first, and with ErrProjectionFailed when a
// named projection is stopped on a failure below pos. Without names it waits
// for all projections with a checkpoint row. Bound it with a context
// deadline. A name without a checkpoint row counts as position 0.
func (w *Waiter) WaitFor(ctx context.Context, pos eventstore.Position, names ...string) error {
	if pos == 0 {
		return nil
	}
	if len(names) == 0 {
		cps, err := readCheckpoints(ctx, w.pool, nil)
		if err != nil {
			return w.waitErr(ctx, pos, fmt.Errorf("wait for position %d: %w", pos, err))
		}
		for _, c := range cps {
			names = append(names, c.Name)
		}
		if len(names) == 0 {
			return nil
		}
	}
	recheck := time.NewTicker(waiterRecheck)
	defer recheck.Stop()
	// The cache holds what notifications announced since LISTEN began;
	// names it does not know yet (cold cache, listener reconnect) and a
	// periodic safety re-check read the database instead.
	refreshed, force := false, false
	for {
		missing, unknown, err, changed := w.check(pos, names)
		if err == nil && len(missing) == 0 {
			return nil
		}
		if !refreshed && (force || unknown || err != nil) {
			if rerr := w.refresh(ctx, names); rerr != nil {
				return w.waitErr(ctx, pos, fmt.Errorf("wait for position %d: %w", pos, rerr))
			}
			refreshed, force = true, false
			continue
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return w.waitErr(ctx, pos, ctx.Err())
		case <-changed:
			refreshed = false
		case <-recheck.C:
			refreshed, force = false, true
		}
	}
}

func (w *Waiter) waitErr(ctx context.Context, pos eventstore.Position, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("wait for position %d: %w: %w", pos, ErrWaitTimeout, ctx.Err())
	}
	return err
}
