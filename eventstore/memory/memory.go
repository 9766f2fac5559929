// Package memory is an in-memory eventstore.Store for fast unit tests of
// commands and projections. Positions are dense, starting at 1. It passes the
// conformance suite in eventstore/eventstoretest.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// defaultReadAllLimit is ReadAll's limit when the caller sets none.
const defaultReadAllLimit = 1000

// defaultBuffer is a subscription's channel capacity when the caller sets none.
const defaultBuffer = 256

// Store is an in-memory event store. It is safe for concurrent use.
type Store struct {
	opts eventstore.Options

	mu      sync.RWMutex
	log     []eventstore.RecordedEvent // log[i] has Position i+1
	streams map[string][]int           // stream -> indexes into log, by version
	// appended is closed and replaced on every append, waking subscribers.
	appended chan struct{}
	closed   bool
	done     chan struct{} // closed by Close
	subs     sync.WaitGroup
}

// Store implements eventstore.Store.
var _ eventstore.Store = (*Store)(nil)

// New returns an empty store.
func New(opts eventstore.Options) *Store {
	return &Store{
		opts:     opts,
		streams:  make(map[string][]int),
		appended: make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// check reports ErrClosed or the context's error, in that order.
func (s *Store) check(ctx context.Context, op string) error {
	if s.closed {
		return fmt.Errorf("%s: %w", op, eventstore.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	const op = "append"
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := eventstore.ValidateEvents(events, s.opts); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("%s to %q: %w", op, stream, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, op); err != nil {
		return eventstore.AppendResult{}, err
	}
	idx := s.streams[stream]
	if res, ok := s.idempotent(idx, expected, events); ok {
		return res, nil
	}
	current := uint64(len(idx))
	if !expected.Matches(current) {
		return eventstore.AppendResult{}, fmt.Errorf("%s: %w", op, &eventstore.WrongExpectedVersionError{
			Stream: stream, Expected: expected, Actual: current, ActualKnown: true,
		})
	}
	now := time.Now().UTC()
	for i, e := range events {
		s.log = append(s.log, eventstore.RecordedEvent{
			ID:         e.ID,
			StreamID:   stream,
			Version:    current + uint64(i) + 1,
			Position:   eventstore.Position(len(s.log) + 1),
			Type:       e.Type,
			Data:       slices.Clone(e.Data),
			Metadata:   slices.Clone(e.Metadata),
			RecordedAt: now,
		})
		idx = append(idx, len(s.log)-1)
	}
	s.streams[stream] = idx
	close(s.appended)
	s.appended = make(chan struct{})
	return eventstore.AppendResult{
		NextVersion: uint64(len(idx)),
		Position:    eventstore.Position(len(s.log)),
	}, nil
}

// idempotent reports whether events are already the stream's events at the
// place expected names (anywhere for Any and StreamExists), returning the
// original append's result. idx is the stream's log indexes.
func (s *Store) idempotent(idx []int, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, bool) {
	first := -1
	switch {
	case expected.IsNoStream():
		first = 0
	case expected.IsAny(), expected.IsStreamExists():
		first = slices.IndexFunc(idx, func(i int) bool { return s.log[i].ID == events[0].ID })
	default:
		v, _ := expected.ExactVersion()
		first = int(v)
	}
	if first < 0 || first+len(events) > len(idx) {
		return eventstore.AppendResult{}, false
	}
	for i, e := range events {
		if s.log[idx[first+i]].ID != e.ID {
			return eventstore.AppendResult{}, false
		}
	}
	last := s.log[idx[first+len(events)-1]]
	return eventstore.AppendResult{NextVersion: last.Version, Position: last.Position}, true
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	const op = "read stream"
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	idx := s.streams[stream]
	if len(idx) == 0 {
		return nil, fmt.Errorf("%s %q: %w", op, stream, eventstore.ErrStreamNotFound)
	}
	n := len(idx)
	limit := opts.Limit
	if limit <= 0 {
		limit = n
	}
	var out []eventstore.RecordedEvent
	if opts.Direction == eventstore.Backwards {
		from := n
		if opts.From > 0 && opts.From < uint64(n) {
			from = int(opts.From)
		}
		for v := from; v >= 1 && len(out) < limit; v-- {
			out = append(out, clone(s.log[idx[v-1]]))
		}
		return out, nil
	}
	from := 1
	if opts.From > 1 {
		if opts.From > uint64(n) {
			return []eventstore.RecordedEvent{}, nil
		}
		from = int(opts.From)
	}
	for v := from; v <= n && len(out) < limit; v++ {
		out = append(out, clone(s.log[idx[v-1]]))
	}
	return out, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	const op = "read all"
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultReadAllLimit
	}
	out, _ := s.scan(opts.After, limit, opts.StreamPrefixes)
	return out, nil
}

// scan returns up to limit events after pos of streams matching prefixes and
// the position scanned up to. The caller holds s.mu.
func (s *Store) scan(after eventstore.Position, limit int, prefixes []string) ([]eventstore.RecordedEvent, eventstore.Position) {
	out := []eventstore.RecordedEvent{}
	i := int(min(uint64(after), uint64(len(s.log))))
	for ; i < len(s.log) && len(out) < limit; i++ {
		if eventstore.MatchesPrefix(s.log[i].StreamID, prefixes) {
			out = append(out, clone(s.log[i]))
		}
	}
	return out, eventstore.Position(i)
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx, "head"); err != nil {
		return 0, err
	}
	return eventstore.Position(len(s.log)), nil
}

// Close implements eventstore.Store. It ends every subscription with
// ErrClosed and waits for them to stop. Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	s.subs.Wait()
	return nil
}

// SubscribeAll implements eventstore.Store.
func (s *Store) SubscribeAll(ctx context.Context, opts eventstore.SubscribeOptions) (eventstore.Subscription, error) {
	const op = "subscribe all"
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	buffer := opts.Buffer
	if buffer <= 0 {
		buffer = defaultBuffer
	}
	sub := &subscription{
		store:    s,
		after:    opts.After,
		prefixes: slices.Clone(opts.StreamPrefixes),
		events:   make(chan eventstore.RecordedEvent, buffer),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	s.subs.Add(1)
	go func() {
		defer s.subs.Done()
		sub.run(ctx)
	}()
	return sub, nil
}

// subscription delivers the log to one subscriber: catch-up from storage,
// then live, woken by Store.appended.
type subscription struct {
	store    *Store
	after    eventstore.Position
	prefixes []string
	events   chan eventstore.RecordedEvent

	stopOnce sync.Once
	stop     chan struct{} // closed by Close
	stopped  chan struct{} // closed when run returns
	err      error         // set before stopped is closed
}

func (sub *subscription) run(ctx context.Context) {
	// Deferred calls run last-in first-out: stopped closes before events, so
	// a receiver that sees events closed also sees err.
	defer close(sub.events)
	defer close(sub.stopped)
	const batch = 256
	for {
		sub.store.mu.RLock()
		evs, scanned := sub.store.scan(sub.after, batch, sub.prefixes)
		wake := sub.store.appended
		sub.store.mu.RUnlock()
		sub.after = scanned

		for _, ev := range evs {
			select {
			case sub.events <- ev:
			case <-sub.stop:
				return
			case <-ctx.Done():
				sub.err = fmt.Errorf("subscription: %w", ctx.Err())
				return
			case <-sub.store.done:
				sub.err = fmt.Errorf("subscription: %w", eventstore.ErrClosed)
				return
			}
		}
		if len(evs) == batch {
			continue // more may be stored already
		}
		select {
		case <-wake:
		case <-sub.stop:
			return
		case <-ctx.Done():
			sub.err = fmt.Errorf("subscription: %w", ctx.Err())
			return
		case <-sub.store.done:
			sub.err = fmt.Errorf("subscription: %w", eventstore.ErrClosed)
			return
		}
	}
}

// Events implements eventstore.Subscription.
func (sub *subscription) Events() <-chan eventstore.RecordedEvent { return sub.events }

// Err implements eventstore.Subscription.
func (sub *subscription) Err() error {
	select {
	case <-sub.stopped:
		return sub.err
	default:
		return nil
	}
}

// Close implements eventstore.Subscription.
func (sub *subscription) Close() error {
	sub.stopOnce.Do(func() { close(sub.stop) })
	<-sub.stopped
	return nil
}

func clone(ev eventstore.RecordedEvent) eventstore.RecordedEvent {
	ev.Data = slices.Clone(ev.Data)
	ev.Metadata = slices.Clone(ev.Metadata)
	return ev
}
