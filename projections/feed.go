package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// DefaultFeedSize is how many of the newest log events the shared feed keeps
// when SubscriberConfig.FeedSize is 0.
const DefaultFeedSize = 2048

// feedDrain caps how many events the feed moves from its subscription into
// the ring under one lock.
const feedDrain = 256

// logEntry is one stored event as the runners see it: the record, with its
// metadata and payload each decoded at most once, on first use, however many
// projections read it.
type logEntry struct {
	rec eventstore.RecordedEvent

	metaOnce sync.Once
	meta     domain.Metadata
	metaErr  error

	payloadOnce sync.Once
	payload     domain.Event
	payloadErr  error
}

func newLogEntry(rec eventstore.RecordedEvent) *logEntry { return &logEntry{rec: rec} }

// newRetainedLogEntry is newLogEntry for an entry kept in the feed's ring:
// it copies Data and Metadata, which a store may hand out as slices of a
// larger buffer shared with other events of the same read (the PostgreSQL
// store's 64 KiB chunks). Live, each read holds an event or two, so without
// the copy a ring of a few thousand events pinned a chunk per event: 540 MB
// of RSS at 300 edits/s where the events themselves take a few MB.
func newRetainedLogEntry(rec eventstore.RecordedEvent) *logEntry {
	rec.Data, rec.Metadata = bytes.Clone(rec.Data), bytes.Clone(rec.Metadata)
	return &logEntry{rec: rec}
}

// metadata decodes the envelope's metadata (once).
func (e *logEntry) metadata() (domain.Metadata, error) {
	e.metaOnce.Do(func() {
		if len(e.rec.Metadata) == 0 {
			return
		}
		if err := json.Unmarshal(e.rec.Metadata, &e.meta); err != nil {
			e.metaErr = fmt.Errorf("decode metadata of event %s at %d: %w", e.rec.ID, e.rec.Position, err)
		}
	})
	return e.meta, e.metaErr
}

// decodedPayload decodes and upcasts the payload (once): nil for event types
// this build does not know.
func (e *logEntry) decodedPayload() (domain.Event, error) {
	e.payloadOnce.Do(func() {
		meta, err := e.metadata()
		if err != nil {
			e.payloadErr = err
			return
		}
		if !domain.KnownEventType(e.rec.Type) {
			return
		}
		p, err := domain.DecodeEvent(e.rec.Type, meta.Schema, e.rec.Data)
		if err != nil {
			e.payloadErr = fmt.Errorf("decode event %s (%s) at %d: %w", e.rec.ID, e.rec.Type, e.rec.Position, err)
			return
		}
		e.payload = p
	})
	return e.payload, e.payloadErr
}

// event returns the Event a projection is handed. Without payload the
// payload is neither decoded nor checked, and Payload stays nil (Data still
// holds the raw JSON). The Payload value is shared by every projection that
// reads this entry: projections must treat it as read-only.
func (e *logEntry) event(payload bool) (Event, error) {
	rec := &e.rec
	ev := Event{
		ID: rec.ID, StreamID: rec.StreamID, Version: rec.Version, Position: rec.Position,
		Type: rec.Type, RecordedAt: rec.RecordedAt, Data: json.RawMessage(rec.Data),
	}
	var err error
	if ev.Metadata, err = e.metadata(); err != nil {
		return ev, err
	}
	if payload {
		ev.Payload, err = e.decodedPayload()
	}
	return ev, err
}

// feed reads the global log once for all runners of a Subscriber and keeps
// its newest events in a ring, each decoded at most once (logEntry), from
// which every runner whose checkpoint lies inside the ring takes its events:
// N projections cost one read and one decode of each event instead of N.
//
// Runners lead independently, so they may stand at different positions: the
// ring holds every event after from, up to its size, and a runner at pos may
// read it while pos >= from. The feed never waits for its readers: a runner
// that falls further behind than the ring reaches (a long catch-up, a failed
// projection resumed later) reads on a subscription of its own until it is
// back inside (see runner.open). The feed starts at the log head when a
// runner first asks for it, and restarts the same way after its subscription
// ends.
type feed struct {
	store eventstore.Store
	size  int
	log   *slog.Logger
	wg    *sync.WaitGroup // the Subscriber's goroutines

	mu      sync.Mutex
	ctx     context.Context // ends with the Subscriber
	running bool
	ring    []*logEntry // ring[(first+i)%size] for i < n, positions increasing
	first   int
	n       int
	from    eventstore.Position // every event after from is in the ring or not yet read
	changed chan struct{}       // closed and replaced on every change
}

func newFeed(ctx context.Context, store eventstore.Store, size int, log *slog.Logger, wg *sync.WaitGroup) *feed {
	return &feed{store: store, size: size, log: log, wg: wg, ctx: ctx, changed: make(chan struct{})}
}

// ensure starts the feed at the log head unless it is running. The caller
// must itself be counted in wg (a runner goroutine).
func (f *feed) ensure(ctx context.Context) error {
	f.mu.Lock()
	running := f.running
	f.mu.Unlock()
	if running {
		return nil
	}
	head, err := f.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("start shared feed: read head: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running || f.ctx.Err() != nil {
		return nil
	}
	sub, err := f.store.SubscribeAll(f.ctx, eventstore.SubscribeOptions{After: head, Buffer: feedDrain})
	if err != nil {
		return fmt.Errorf("start shared feed after %d: %w", head, err)
	}
	f.running = true
	f.ring = make([]*logEntry, f.size)
	f.first, f.n, f.from = 0, 0, head
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.run(sub)
	}()
	return nil
}

// run moves events from sub into the ring until the subscription ends.
func (f *feed) run(sub eventstore.Subscription) {
	defer sub.Close()
	events := sub.Events()
	batch := make([]*logEntry, 0, feedDrain)
	for {
		rec, ok := <-events
		if ok {
			batch = append(batch[:0], newRetainedLogEntry(rec))
		drain:
			for len(batch) < feedDrain {
				select {
				case rec, ok = <-events:
					if !ok {
						break drain
					}
					batch = append(batch, newRetainedLogEntry(rec))
				default:
					break drain
				}
			}
			f.push(batch)
		}
		if !ok {
			err := sub.Err()
			if err != nil && f.ctx.Err() == nil {
				f.log.Warn("shared projection feed stopped; runners read on their own until it restarts", "err", err)
			}
			f.stop()
			return
		}
	}
}

// push appends entries (in log order) to the ring, dropping the oldest.
func (f *feed) push(entries []*logEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range entries {
		if f.n == f.size {
			f.from = f.ring[f.first].rec.Position
			f.ring[f.first] = nil
			f.first = (f.first + 1) % f.size
			f.n--
		}
		f.ring[(f.first+f.n)%f.size] = e
		f.n++
	}
	f.signalLocked()
}

// stop marks the feed stopped and drops the ring.
func (f *feed) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running = false
	f.ring, f.first, f.n = nil, 0, 0
	f.signalLocked()
}

func (f *feed) signalLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// covers reports whether the ring holds every event after pos (some may
// still be to come).
func (f *feed) covers(pos eventstore.Position) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running && pos >= f.from
}

// read appends to dst up to max entries after pos. covered is false when the
// ring no longer holds every event after pos (or the feed stopped); changed
// is closed on the ring's next change.
func (f *feed) read(pos eventstore.Position, dst []*logEntry, max int) (out []*logEntry, covered bool, changed <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running || pos < f.from {
		return dst, false, f.changed
	}
	i := sort.Search(f.n, func(i int) bool { return f.ring[(f.first+i)%f.size].rec.Position > pos })
	for ; i < f.n && max > 0; i, max = i+1, max-1 {
		dst = append(dst, f.ring[(f.first+i)%f.size])
	}
	return dst, true, f.changed
}

// errOffFeed: the runner's position is no longer inside the shared feed's
// ring (or the feed stopped); it continues on a subscription of its own.
var errOffFeed = errors.New("left the shared feed")

// errOntoFeed: a runner reading on its own has reached the shared feed's ring
// and switches to it.
var errOntoFeed = errors.New("reached the shared feed")

// source is where a runner takes its events from: the shared feed or a
// subscription of its own.
type source interface {
	// next appends to dst up to max events following the last one it
	// returned. When none is there it waits up to wait for the first one
	// (returning dst unchanged after that) or until ctx ends.
	next(ctx context.Context, dst []*logEntry, max int, wait time.Duration) ([]*logEntry, error)
	// shared reports whether the source is the shared feed.
	shared() bool
	close()
}

// feedSource reads the shared feed after pos.
type feedSource struct {
	f     *feed
	pos   eventstore.Position
	timer *time.Timer
}

func (s *feedSource) shared() bool { return true }
func (s *feedSource) close()       { stopTimer(s.timer) }

func (s *feedSource) next(ctx context.Context, dst []*logEntry, max int, wait time.Duration) ([]*logEntry, error) {
	n := len(dst)
	for {
		out, covered, changed := s.f.read(s.pos, dst, max)
		if !covered {
			return dst, errOffFeed
		}
		if len(out) > n {
			s.pos = out[len(out)-1].rec.Position
			return out, nil
		}
		if wait <= 0 {
			return dst, nil
		}
		s.timer = resetTimer(s.timer, wait)
		select {
		case <-changed:
		case <-s.timer.C:
			return dst, nil
		case <-ctx.Done():
			return dst, ctx.Err()
		}
	}
}

// subSource reads a runner's own subscription, decoding for that runner only.
type subSource struct {
	sub    eventstore.Subscription
	events <-chan eventstore.RecordedEvent
	timer  *time.Timer
}

func (s *subSource) shared() bool { return false }

func (s *subSource) close() {
	stopTimer(s.timer)
	_ = s.sub.Close()
}

func (s *subSource) next(ctx context.Context, dst []*logEntry, max int, wait time.Duration) ([]*logEntry, error) {
	n := len(dst)
	for len(dst)-n < max {
		select {
		case rec, ok := <-s.events:
			if !ok {
				return dst, fmt.Errorf("subscription ended: %w", s.sub.Err())
			}
			dst = append(dst, newLogEntry(rec))
			continue
		default:
		}
		if len(dst) > n || wait <= 0 {
			return dst, nil
		}
		s.timer = resetTimer(s.timer, wait)
		select {
		case rec, ok := <-s.events:
			if !ok {
				return dst, fmt.Errorf("subscription ended: %w", s.sub.Err())
			}
			dst = append(dst, newLogEntry(rec))
		case <-s.timer.C:
			return dst, nil
		case <-ctx.Done():
			return dst, ctx.Err()
		}
	}
	return dst, nil
}

// resetTimer returns t (or a new timer) set to fire after d.
func resetTimer(t *time.Timer, d time.Duration) *time.Timer {
	if t == nil {
		return time.NewTimer(d)
	}
	t.Reset(d)
	return t
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}
