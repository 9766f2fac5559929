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
	// FeedSize is how many of the newest log events the shared feed keeps
	// in memory: one subscription reads and decodes the log for every
	// projection within that distance of the head, and those further behind
	// read on their own until they come within it. Default DefaultFeedSize;
	// negative: no shared feed, every projection reads the log on its own.
	FeedSize int
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
	if c.FeedSize == 0 {
		c.FeedSize = DefaultFeedSize
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
// connection), reads the log after the projection's checkpoint (from the
// shared feed, which reads and decodes each event once for all topics near
// the head, or on a subscription of its own while further behind) and
// delivers the events of the projection's streams as messages, in batches:
// every message of a batch carries the same PostgreSQL transaction
// (TxFromContext) and its Event (EventFromContext); when the batch is full,
// old or the log is idle the subscriber commits it; the transaction moved
// the checkpoint and announced it on NotifyChannel when it began (see
// lazyTx). A batch with no event the projection applies (none of
// its streams, or NeedNothing, see EventNeeds) only moves the checkpoint, in
// one statement without a batch transaction. A Nack rolls the batch back, marks the projection
// failed at the Nacked event's position and pauses it until it is resumed
// (Resume) or the leadership moves to a fresh runner (restart).
//
// Messages of one topic are delivered one at a time: the next is sent only
// after the previous one is Acked.
type Subscriber struct {
	cfg    SubscriberConfig
	byName map[string]Projection

	// feed is the log read once for all topics; nil without one.
	feed     *feed
	stopFeed context.CancelFunc
	mu       sync.Mutex
	closed   bool
	cancels  []context.CancelFunc
	wg       sync.WaitGroup
	wakeups  map[string]chan struct{}
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
	feedCtx, stop := context.WithCancel(context.Background())
	s.stopFeed = stop
	if cfg.FeedSize > 0 {
		s.feed = newFeed(feedCtx, cfg.Store, cfg.FeedSize, cfg.Logger, &s.wg)
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
	s.stopFeed()
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
	// needs is the current batch's needs, event by event (see EventNeeds).
	needs []Need
	// stored is the checkpoint as stored in the database, at or behind the
	// position follow has reached; passed counts the events of the
	// projection's streams between the two (none applied); advanced is when
	// the checkpoint was last stored (see advanceEvery).
	stored   eventstore.Position
	passed   int
	advanced time.Time
	// batched is when the last batch ended (see idle).
	batched time.Time
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
	conn, err := leadershipConn(ctx, r.s.cfg.Pool, r.p.Name())
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

// follow runs batches from pos until an error: on the shared feed while pos
// is inside it, on a subscription of its own otherwise.
func (r *runner) follow(ctx context.Context, conn *pgx.Conn, pos eventstore.Position) error {
	cfg := &r.s.cfg
	src, err := r.open(ctx, pos)
	if err != nil {
		return err
	}
	defer func() {
		if src != nil {
			src.close()
		}
	}()
	var (
		buf     []*logEntry
		checked = time.Now()
	)
	r.stored, r.passed = pos, 0
	for {
		if time.Since(checked) >= cfg.LeaderRetryInterval {
			if err := r.checkLeadership(ctx, conn); err != nil {
				return err
			}
			checked = time.Now()
		}
		wait := cfg.LeaderRetryInterval - time.Since(checked)
		if r.stored < pos {
			wait = min(wait, time.Until(r.advanced.Add(advanceEvery)))
		}
		buf, err = r.collect(ctx, src, buf[:0], wait)
		if len(buf) == 0 && err == nil && r.stored < pos && time.Since(r.advanced) >= advanceEvery {
			// The log went quiet with the checkpoint behind: store it.
			if err := r.advance(ctx, conn, pos); err != nil {
				return err
			}
		}
		if len(buf) > 0 {
			next, berr := r.batch(ctx, conn, pos, buf)
			clear(buf) // let the ring drop entries it overwrites
			if berr != nil {
				return berr
			}
			pos = next
		}
		switch {
		case err == nil && !src.shared() && r.s.feed != nil && r.s.feed.covers(pos):
			err = errOntoFeed
		case err == nil:
			continue
		}
		if !errors.Is(err, errOffFeed) && !errors.Is(err, errOntoFeed) {
			return err
		}
		// Switch sources at pos: every event up to it is applied.
		r.log.Debug("projection runner switches source", "position", pos, "reason", err)
		src.close()
		src = nil
		if src, err = r.open(ctx, pos); err != nil {
			return err
		}
	}
}

// open returns the source of the events after pos: the shared feed when it
// holds them, else a subscription of the runner's own.
func (r *runner) open(ctx context.Context, pos eventstore.Position) (source, error) {
	cfg := &r.s.cfg
	if f := r.s.feed; f != nil {
		if err := f.ensure(ctx); err != nil {
			r.log.Warn("shared projection feed unavailable; reading on our own", "err", err)
		} else if f.covers(pos) {
			return &feedSource{f: f, pos: pos}, nil
		}
	}
	// Unfiltered on purpose: events outside StreamPrefixes still advance the
	// checkpoint, so every projection reaches the head of the log and
	// read-your-writes waits end for positions of any stream.
	sub, err := cfg.Store.SubscribeAll(ctx, eventstore.SubscribeOptions{After: pos, Buffer: cfg.BatchSize})
	if err != nil {
		return nil, fmt.Errorf("subscribe after %d: %w", pos, err)
	}
	return &subSource{sub: sub, events: sub.Events()}, nil
}

// batchIdle is how long a batch waits for one more event once the source
// has nothing pending: batches grow under load, and an idle log is projected
// at once.
const batchIdle = time.Millisecond

// BatchPacing is implemented by projections whose readers can take a change
// a few milliseconds after readers of posts do: revision history, audit log,
// search, users, media. Under load their runners wait up to BatchIdle for
// one more event before committing a batch, so they commit a few large
// batches where they would commit one per event or two, each with its
// transaction, round trips, notification and commit. That leaves the CPU to
// the posts runner, which makes an edit visible: at 300 edits/s on 2 cores
// the other projections committed about 5x fewer batches (docs/BENCHMARKS.md).
//
// A runner counts as under load while its previous batch ended less than
// busyWindow ago; the first event after a quiet spell is committed as
// promptly as any (batchIdle).
type BatchPacing interface {
	BatchIdle() time.Duration
}

// busyWindow: a runner whose previous batch ended this recently is under load.
const busyWindow = 100 * time.Millisecond

// patientIdle is BatchIdle of the projections of this package that pace.
const patientIdle = 10 * time.Millisecond

// idle is how long the runner's current batch waits for one more event.
func (r *runner) idle() time.Duration {
	if p, ok := r.p.(BatchPacing); ok && !r.batched.IsZero() && time.Since(r.batched) < busyWindow {
		return max(batchIdle, p.BatchIdle())
	}
	return batchIdle
}

// collect gathers the next batch into dst: it waits up to wait for a first
// event, then takes what follows without waiting longer than r.idle() at a
// time, up to BatchSize events or BatchTimeout. A source error is returned
// with the events gathered before it, which are still to be applied.
func (r *runner) collect(ctx context.Context, src source, dst []*logEntry, wait time.Duration) ([]*logEntry, error) {
	cfg := &r.s.cfg
	dst, err := src.next(ctx, dst, cfg.BatchSize, max(wait, time.Millisecond))
	if err != nil || len(dst) == 0 {
		return dst, err
	}
	deadline := time.Now().Add(cfg.BatchTimeout)
	for len(dst) < cfg.BatchSize && time.Now().Before(deadline) {
		n := len(dst)
		if dst, err = src.next(ctx, dst, cfg.BatchSize-n, r.idle()); err != nil || len(dst) == n {
			break
		}
	}
	return dst, err
}

// batch applies entries (the events after pos, in log order) in one
// transaction with the checkpoint and returns the new checkpoint. A batch
// with no event of the projection's streams only moves the checkpoint.
func (r *runner) batch(ctx context.Context, conn *pgx.Conn, pos eventstore.Position, entries []*logEntry) (eventstore.Position, error) {
	cfg := &r.s.cfg
	start := time.Now()
	// inStreams counts the events of the projection's streams (what
	// events_applied and the metrics count, as a rebuild does); handed those
	// of them Apply is called for (see EventNeeds).
	last := pos
	inStreams, handed := 0, 0
	r.needs = r.needs[:0]
	for _, e := range entries {
		if e.rec.Position <= last {
			return pos, fmt.Errorf("source delivered position %d after %d (checkpoint %d)", e.rec.Position, last, pos)
		}
		last = e.rec.Position
		n := NeedNothing
		if eventstore.MatchesPrefix(e.rec.StreamID, r.p.StreamPrefixes()) {
			inStreams++
			if n = needs(r.p, e.rec.StreamID, e.rec.Type); n != NeedNothing {
				handed++
			}
		}
		r.needs = append(r.needs, n)
	}
	if handed == 0 {
		// Nothing to apply: no transaction, one statement that moves the
		// checkpoint only if it is still where this runner left it, and
		// under load at most every advanceEvery.
		r.passed += inStreams
		if time.Since(r.advanced) >= advanceEvery {
			if err := r.advance(ctx, conn, last); err != nil {
				return pos, err
			}
		}
		cfg.Metrics.observeBatch(r.p.Name(), inStreams, time.Since(start))
		r.batched = time.Now()
		return last, nil
	}
	// Fast path: no savepoints (two round trips per event, and more than 64
	// writing subtransactions per transaction overflow PostgreSQL's subxid
	// cache), and projections that write in bulk get the batch bracketed.
	// After a failure the range is re-run carefully: event by event, each
	// attempt in a savepoint, so the failing event is retried in place and,
	// if it keeps failing, reported at its own position.
	carefulRun := entries[0].rec.Position <= r.carefulUntil
	batcher, bulk := r.p.(Batcher)
	bulk = bulk && !carefulRun
	_, inMemory := r.p.(memoryBatcher)
	// The transaction moves the checkpoint from where it is stored, past any
	// events passed since without storing. A projection that batches in
	// memory gets it opened with its flush (lazyTx).
	var (
		tx   pgx.Tx
		lazy *lazyTx
		err  error
	)
	if bulk && inMemory {
		lazy, err = r.lazyBegin(ctx, r.stored, last, inStreams+r.passed)
		tx = lazy
	} else {
		tx, err = r.begin(ctx, r.stored, last, inStreams+r.passed)
	}
	if err != nil {
		return pos, err
	}
	committed := false
	defer func() {
		if !committed {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
			_ = tx.Rollback(rctx)
			cancel()
		}
	}()
	if bulk {
		if err := batcher.BeginBatch(ctx, tx); err != nil {
			return pos, fmt.Errorf("begin bulk batch: %w", err)
		}
	}
	for i, e := range entries {
		if r.needs[i] == NeedNothing {
			continue
		}
		if err := r.deliver(ctx, tx, e, r.needs[i] == NeedPayload, carefulRun); err != nil {
			return pos, err
		}
	}
	if bulk {
		if err := batcher.FlushBatch(ctx, tx); err != nil {
			if lazy != nil && lazy.beginErr != nil {
				return pos, lazy.beginErr // the batch did not begin; nothing to re-run carefully
			}
			r.log.Warn("bulk flush failed; re-running the batch event by event", "from", pos, "to", last, "err", err)
			r.carefulUntil = last
			return pos, fmt.Errorf("flush batch (%d, %d]: %w: %w", pos, last, err, errCheckpointMoved)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return pos, fmt.Errorf("commit batch at %d: %w", last, err)
	}
	committed = true
	r.stored, r.passed, r.advanced = last, 0, time.Now()
	r.batched = r.advanced
	cfg.Metrics.observeBatch(r.p.Name(), inStreams, time.Since(start))
	r.analyzer.add(ctx, handed)
	return last, nil
}

// advanceEvery is how often, at most, a runner stores a checkpoint that
// only moves past events its projection does not apply (users_v1 past post
// edits, say): under load those batches come every few milliseconds, and
// each stored and announced checkpoint costs a statement, a row version and
// a notification to every listener. Waits for such a projection (UI saves
// wait for all of them) take at most this much longer; an idle log gets its
// checkpoint stored as soon as this much time has passed since the last.
const advanceEvery = 25 * time.Millisecond

// advance stores the checkpoint at pos, past events none of which the
// projection applies (see advanceCheckpoint), and announces it.
func (r *runner) advance(ctx context.Context, conn *pgx.Conn, pos eventstore.Position) error {
	if err := advanceCheckpoint(ctx, conn, r.p.Name(), r.stored, pos, r.passed); err != nil {
		return err
	}
	r.stored, r.passed, r.advanced = pos, 0, time.Now()
	return nil
}

// deliver publishes the entry's event as a message carrying tx and waits for
// its Ack. A Nack marks the projection failed at the event (after the batch
// is rolled back).
func (r *runner) deliver(ctx context.Context, tx pgx.Tx, e *logEntry, payload, carefulRun bool) error {
	rec := &e.rec
	ev, err := e.event(payload)
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
