package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// closeTimeout bounds cleanup work done after the context is cancelled
// (rollbacks, unlocks, closing connections).
const closeTimeout = 5 * time.Second

type ctxKey int

const (
	txKey ctxKey = iota
	eventKey
	failureKey
	carefulKey
)

// errRerunCarefully marks a failure in a batch's fast path (no savepoints):
// the transaction may be aborted, so instead of retrying in place the
// subscriber rolls the batch back and re-runs it with a savepoint around
// every attempt, where the Retry middleware can retry the failing event.
var errRerunCarefully = errors.New("re-run the batch with savepoints")

// careful reports whether the message's batch runs with a savepoint around
// each handler attempt.
func careful(ctx context.Context) bool {
	c, _ := ctx.Value(carefulKey).(bool)
	return c
}

// TxFromContext returns the batch transaction a message handler must write
// in, or nil when ctx does not come from a projection message.
func TxFromContext(ctx context.Context) pgx.Tx {
	tx, _ := ctx.Value(txKey).(pgx.Tx)
	return tx
}

// EventFromContext returns the decoded event of a projection message.
func EventFromContext(ctx context.Context) (Event, bool) {
	ev, ok := ctx.Value(eventKey).(Event)
	return ev, ok
}

// failure carries a handler's last error back to the subscriber, since a
// Watermill Nack carries none.
type failure struct {
	mu  sync.Mutex
	err error
}

func (f *failure) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *failure) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// recordFailure stores err as the reason the message in ctx failed.
func recordFailure(ctx context.Context, err error) {
	if f, ok := ctx.Value(failureKey).(*failure); ok {
		f.set(err)
	}
}

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// Pool is the read-model database holding projection_checkpoints.
	Pool *pgxpool.Pool
	// Store is the event store whose global log is projected.
	Store eventstore.Store
	// Projections are the topics: Subscribe(ctx, p.Name()) feeds p.
	Projections []Projection
	// BatchSize caps the events (matching or not) per batch transaction. Default 500.
	BatchSize int
	// BatchTimeout caps how long a batch stays open. A batch also commits as
	// soon as the subscription has nothing more to deliver. Default 50 ms.
	BatchTimeout time.Duration
	// LeaderRetryInterval is how often a non-leader retries to take a
	// projection's leadership, and how often the leader checks that it still
	// holds it. Default 1 s, at most 1 s.
	LeaderRetryInterval time.Duration
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
	// Metrics, when set, receives batch and failure metrics.
	Metrics *Metrics
}

func (c *SubscriberConfig) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 50 * time.Millisecond
	}
	if c.LeaderRetryInterval == 0 {
		c.LeaderRetryInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration (after defaults are applied).
func (c SubscriberConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("pool is nil"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("store is nil"))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("batch size %d must be positive", c.BatchSize))
	}
	if c.BatchTimeout < 0 {
		errs = append(errs, fmt.Errorf("batch timeout %s must be positive", c.BatchTimeout))
	}
	if c.LeaderRetryInterval < 0 || c.LeaderRetryInterval > time.Second {
		errs = append(errs, fmt.Errorf("leader retry interval %s must be in (0, 1s]", c.LeaderRetryInterval))
	}
	seen := map[string]bool{}
	for i, p := range c.Projections {
		if p == nil {
			errs = append(errs, fmt.Errorf("projection %d is nil", i))
			continue
		}
		if p.Name() == "" || seen[p.Name()] {
			errs = append(errs, fmt.Errorf("projection %d: name %q empty or duplicate", i, p.Name()))
		}
		seen[p.Name()] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("projection subscriber config: %w", errors.Join(errs...))
	}
	return nil
}

// Subscriber is a Watermill message.Subscriber over an event store's global
// log. The topic is a projection name. For each topic it takes the
// projection's leadership (a PostgreSQL advisory lock on a dedicated
// connection), subscribes to the log after the projection's checkpoint and
// delivers the events of the projection's streams as messages, in batches:
// every message of a batch carries the same PostgreSQL transaction
// (TxFromContext) and its Event (EventFromContext); when the batch is full,
// old or the log is idle the subscriber writes the checkpoint in that
// transaction and commits. A Nack rolls the batch back, marks the projection
// failed at the Nacked event's position and pauses it until it is resumed
// (Resume) or the leadership moves to a fresh runner (restart).
//
// Messages of one topic are delivered one at a time: the next is sent only
// after the previous one is Acked.
type Subscriber struct {
	cfg    SubscriberConfig
	byName map[string]Projection

	mu      sync.Mutex
	closed  bool
	cancels []context.CancelFunc
	wg      sync.WaitGroup
	wakeups map[string]chan struct{}
}

// NewSubscriber returns a Subscriber for cfg.
func NewSubscriber(cfg SubscriberConfig) (*Subscriber, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Subscriber{cfg: cfg, byName: map[string]Projection{}, wakeups: map[string]chan struct{}{}}
	for _, p := range cfg.Projections {
		s.byName[p.Name()] = p
		s.wakeups[p.Name()] = make(chan struct{}, 1)
	}
	return s, nil
}

// Subscribe implements message.Subscriber: it starts feeding the projection
// named topic. The channel closes when ctx ends or the Subscriber closes.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	p, ok := s.byName[topic]
	if !ok {
		return nil, fmt.Errorf("subscribe %q: %w", topic, ErrUnknownProjection)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("subscribe %q: subscriber closed", topic)
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancels = append(s.cancels, cancel)
	out := make(chan *message.Message)
	r := &runner{s: s, p: p, key: lockKey(p.Name()), out: out, log: s.cfg.Logger.With("projection", p.Name()), wake: s.wakeups[topic]}
	r.analyzer = newTableAnalyzer(s.cfg.Pool, p.Tables(), r.log, &s.wg)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		r.run(ctx)
	}()
	return out, nil
}

// Close implements message.Subscriber: it stops every topic, rolling back
// open batches, and waits for them. It is safe to call more than once.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, c := range s.cancels {
		c()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// wake makes the runner of name re-check its state now (used by Resume).
func (s *Subscriber) wake(name string) {
	if ch, ok := s.wakeups[name]; ok {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Errors that end one leadership term of a runner.
var (
	errYield           = errors.New("yield leadership to a rebuild")
	errCheckpointMoved = errors.New("checkpoint moved by someone else")
)

// runner feeds one projection.
type runner struct {
	s    *Subscriber
	p    Projection
	key  int32
	out  chan<- *message.Message
	log  *slog.Logger
	wake chan struct{}
	// analyzer keeps the projection's table statistics fresh.
	analyzer *tableAnalyzer
	// carefulUntil: batches starting at or below it run carefully (a
	// savepoint per attempt, no Batcher bulk mode).
	carefulUntil eventstore.Position
}

func (r *runner) run(ctx context.Context) {
	interval := r.s.cfg.LeaderRetryInterval
	for ctx.Err() == nil {
		conn, err := r.acquire(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("projection leadership", "err", err)
				sleep(ctx, interval)
			}
			continue
		}
		r.log.Info("projection runner took leadership")
		err = r.lead(ctx, conn)
		closeConn(conn) // releases the advisory lock
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, errYield):
			r.log.Info("projection runner yields leadership to a rebuild")
			sleep(ctx, interval)
		case err != nil:
			r.log.Error("projection runner stopped; retrying", "err", err)
			sleep(ctx, interval)
		}
	}
}

// acquire waits until this runner holds the projection's leadership and no
// rebuild is pending, and returns the connection holding the lock.
func (r *runner) acquire(ctx context.Context) (*pgx.Conn, error) {
	conn, err := dedicatedConn(ctx, r.s.cfg.Pool, "palimpsest projection "+r.p.Name())
	if err != nil {
		return nil, err
	}
	t := time.NewTicker(r.s.cfg.LeaderRetryInterval)
	defer t.Stop()
	for {
		ok, err := r.tryLead(ctx, conn)
		if err != nil {
			closeConn(conn)
			return nil, err
		}
		if ok {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			closeConn(conn)
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (r *runner) tryLead(ctx context.Context, conn *pgx.Conn) (bool, error) {
	if pending, err := rebuildPending(ctx, conn, r.key); err != nil || pending {
		return false, err
	}
	ok, err := tryLock(ctx, conn, leaderLockClass, r.key)
	if err != nil || !ok {
		return false, err
	}
	// A rebuild may have queued between the two checks; it goes first.
	if pending, err := rebuildPending(ctx, conn, r.key); err != nil || pending {
		return false, errors.Join(err, unlock(ctx, conn, leaderLockClass, r.key))
	}
	return true, nil
}

// lead runs batches while this runner holds leadership.
func (r *runner) lead(ctx context.Context, conn *pgx.Conn) error {
	cfg := &r.s.cfg
	if err := ensureCheckpoints(ctx, cfg.Pool, []string{r.p.Name()}); err != nil {
		return err
	}
	// A new leader retries a failed projection from its checkpoint, and no
	// rebuild holds the rebuild lock, so a 'rebuilding' state is stale.
	if changed, err := setRunning(ctx, conn, r.p.Name()); err != nil {
		return err
	} else if changed {
		r.log.Info("projection state reset to running; retrying from checkpoint")
	}
	for {
		cp, err := readCheckpoint(ctx, conn, r.p.Name(), false)
		if err != nil {
			return err
		}
		err = r.follow(ctx, conn, cp.Position)
		if errors.Is(err, errCheckpointMoved) {
			continue
		}
		var fe *failedError
		if !errors.As(err, &fe) {
			return err
		}
		if err := r.paused(ctx, conn); err != nil {
			return err
		}
	}
}

// failedError reports that the projection failed on the event at Position.
type failedError struct {
	Position eventstore.Position
	Err      error
}

func (e *failedError) Error() string {
	return fmt.Sprintf("projection failed at position %d: %v", e.Position, e.Err)
}

func (e *failedError) Unwrap() error { return e.Err }

// paused waits, still holding leadership, until the failed projection is
// resumed (its state is no longer failed) or a rebuild asks for the lock.
func (r *runner) paused(ctx context.Context, conn *pgx.Conn) error {
	t := time.NewTicker(r.s.cfg.LeaderRetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-r.wake:
		}
		if err := r.checkLeadership(ctx, conn); err != nil {
			return err
		}
		cp, err := readCheckpoint(ctx, conn, r.p.Name(), false)
		if err != nil {
			return err
		}
		if cp.State != storedFailed {
			r.log.Info("failed projection resumed; retrying from checkpoint", "position", cp.Position)
			return nil
		}
	}
}

// checkLeadership verifies the lock connection is alive and no rebuild waits.
func (r *runner) checkLeadership(ctx context.Context, conn *pgx.Conn) error {
	pending, err := rebuildPending(ctx, conn, r.key)
	if err != nil {
		return fmt.Errorf("check leadership: %w", err)
	}
	if pending {
		return errYield
	}
	return nil
}

// follow subscribes after pos and runs batches until an error.
func (r *runner) follow(ctx context.Context, conn *pgx.Conn, pos eventstore.Position) error {
	cfg := &r.s.cfg
	// Unfiltered on purpose: events outside StreamPrefixes still advance the
	// checkpoint, so every projection reaches the head of the log and
	// read-your-writes waits end for positions of any stream.
	sub, err := cfg.Store.SubscribeAll(ctx, eventstore.SubscribeOptions{After: pos, Buffer: cfg.BatchSize})
	if err != nil {
		return fmt.Errorf("subscribe after %d: %w", pos, err)
	}
	defer sub.Close()
	events := sub.Events()
	t := time.NewTicker(cfg.LeaderRetryInterval)
	defer t.Stop()
	for {
		var first eventstore.RecordedEvent
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := r.checkLeadership(ctx, conn); err != nil {
				return err
			}
			continue
		case first, ok = <-events:
			if !ok {
				return fmt.Errorf("subscription ended: %w", sub.Err())
			}
		}
		next, err := r.batch(ctx, pos, first, events)
		if err != nil {
			return err
		}
		pos = next
	}
}

// batch applies first and whatever follows it without waiting, up to the
// batch limits, in one transaction with the checkpoint. It returns the new
// checkpoint.
func (r *runner) batch(ctx context.Context, pos eventstore.Position, first eventstore.RecordedEvent, events <-chan eventstore.RecordedEvent) (eventstore.Position, error) {
	cfg := &r.s.cfg
	start := time.Now()
	tx, err := cfg.Pool.Begin(ctx)
	if err != nil {
		return pos, fmt.Errorf("begin batch: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
			_ = tx.Rollback(rctx)
			cancel()
		}
	}()
	// The row lock serializes batches with any other writer of this
	// checkpoint (a stale leader, a rebuild's swap).
	cp, err := readCheckpoint(ctx, tx, r.p.Name(), true)
	if err != nil {
		return pos, err
	}
	if cp.Position != pos {
		return pos, fmt.Errorf("expected checkpoint %d, found %d: %w", pos, cp.Position, errCheckpointMoved)
	}
	if first.Position <= pos {
		return pos, fmt.Errorf("subscription delivered position %d at or below checkpoint %d", first.Position, pos)
	}
	// Fast path: no savepoints (two round trips per event, and more than 64
	// writing subtransactions per transaction overflow PostgreSQL's subxid
	// cache), and projections that write in bulk get the batch bracketed.
	// After a failure the range is re-run carefully: event by event, each
	// attempt in a savepoint, so the failing event is retried in place and,
	// if it keeps failing, reported at its own position.
	carefulRun := first.Position <= r.carefulUntil
	batcher, bulk := r.p.(Batcher)
	bulk = bulk && !carefulRun
	if bulk {
		if err := batcher.BeginBatch(ctx, tx); err != nil {
			return pos, fmt.Errorf("begin bulk batch: %w", err)
		}
	}
	var (
		last     = pos
		applied  int
		n        int
		ev       = first
		deadline = start.Add(cfg.BatchTimeout)
		idle     *time.Timer
	)
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for {
		if ev.Position <= last {
			return pos, fmt.Errorf("subscription delivered position %d after %d", ev.Position, last)
		}
		if eventstore.MatchesPrefix(ev.StreamID, r.p.StreamPrefixes()) {
			if err := r.deliver(ctx, tx, ev, carefulRun); err != nil {
				return pos, err
			}
			applied++
		}
		last = ev.Position
		n++
		if n >= cfg.BatchSize || !time.Now().Before(deadline) {
			break
		}
		var ok bool
		select {
		case ev, ok = <-events:
		default:
			// Idle for now: wait only a moment so live lag stays low.
			if idle == nil {
				idle = time.NewTimer(time.Millisecond)
			} else {
				idle.Reset(time.Millisecond)
			}
			select {
			case ev, ok = <-events:
			case <-idle.C:
			case <-ctx.Done():
				return pos, ctx.Err()
			}
		}
		if !ok {
			break
		}
	}
	if bulk {
		if err := batcher.FlushBatch(ctx, tx); err != nil {
			r.log.Warn("bulk flush failed; re-running the batch event by event", "from", pos, "to", last, "err", err)
			r.carefulUntil = last
			return pos, fmt.Errorf("flush batch (%d, %d]: %w: %w", pos, last, err, errCheckpointMoved)
		}
	}
	if err := writeCheckpoint(ctx, tx, r.p.Name(), last, applied); err != nil {
		return pos, err
	}
	if err := tx.Commit(ctx); err != nil {
		return pos, fmt.Errorf("commit batch at %d: %w", last, err)
	}
	committed = true
	cfg.Metrics.observeBatch(r.p.Name(), applied, time.Since(start))
	r.analyzer.add(ctx, applied)
	return last, nil
}

// deliver publishes ev as a message carrying tx and waits for its Ack. A Nack
// marks the projection failed at ev (after the batch is rolled back).
func (r *runner) deliver(ctx context.Context, tx pgx.Tx, rec eventstore.RecordedEvent, carefulRun bool) error {
	ev, err := Decode(rec)
	if err != nil {
		// An undecodable event is as fatal as a failing handler: never skip.
		return r.fail(ctx, tx, rec.Position, err)
	}
	f := &failure{}
	msg := message.NewMessage(rec.ID.String(), rec.Data)
	msg.Metadata.Set("position", rec.Position.String())
	msg.Metadata.Set("stream", rec.StreamID)
	msg.Metadata.Set("type", rec.Type)
	mctx := context.WithValue(ctx, txKey, tx)
	mctx = context.WithValue(mctx, eventKey, ev)
	mctx = context.WithValue(mctx, failureKey, f)
	mctx = context.WithValue(mctx, carefulKey, carefulRun)
	msg.SetContext(mctx)
	select {
	case r.out <- msg:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-msg.Acked():
		return nil
	case <-msg.Nacked():
	case <-ctx.Done():
		// The handler may still be using tx: give it a moment to notice.
		t := time.NewTimer(closeTimeout)
		defer t.Stop()
		select {
		case <-msg.Acked():
		case <-msg.Nacked():
		case <-t.C:
		}
		return ctx.Err()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cause := f.get()
	if cause == nil {
		cause = errors.New("message nacked")
	}
	if !carefulRun && errors.Is(cause, errRerunCarefully) {
		r.log.Warn("event failed; re-running its batch with savepoints", "position", rec.Position, "err", cause)
		r.carefulUntil = rec.Position
		return fmt.Errorf("event at %d: %w: %w", rec.Position, cause, errCheckpointMoved)
	}
	return r.fail(ctx, tx, rec.Position, cause)
}

// fail rolls the batch back, records the failure and returns a *failedError.
func (r *runner) fail(ctx context.Context, tx pgx.Tx, pos eventstore.Position, cause error) error {
	if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("roll back failed batch: %w", err)
	}
	r.log.Error("projection failed; it stays stopped until resumed or restarted", "position", pos, "err", cause)
	r.s.cfg.Metrics.observeFailure(r.p.Name())
	if err := markFailed(ctx, r.s.cfg.Pool, r.p.Name(), pos, cause); err != nil {
		return errors.Join(err, cause)
	}
	return &failedError{Position: pos, Err: cause}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
