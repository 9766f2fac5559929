package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// errSubscriptionClosed is the cancel cause Subscription.Close uses; it
// makes Err report nil.
var errSubscriptionClosed = errors.New("subscription closed")

type subscription struct {
	store    *Store
	prefixes []string
	after    eventstore.Position

	events chan eventstore.RecordedEvent
	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}

	mu  sync.Mutex
	err error
}

// SubscribeAll implements eventstore.Store. The subscription reads stored
// events in pages after opts.After, then waits for a NOTIFY wake-up (or the
// safety interval) and reads again; filtering by stream prefix happens in SQL.
func (s *Store) SubscribeAll(ctx context.Context, opts eventstore.SubscribeOptions) (eventstore.Subscription, error) {
	if err := s.begin(ctx, "subscribe"); err != nil {
		return nil, err
	}
	buffer := opts.Buffer
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	sub := &subscription{
		store:    s,
		prefixes: append([]string(nil), opts.StreamPrefixes...),
		after:    opts.After,
		events:   make(chan eventstore.RecordedEvent, buffer),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	sub.ctx, sub.cancel = context.WithCancelCause(ctx)
	// Register before the first read so no notification can fall between
	// the read and the wait.
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		sub.cancel(nil)
		return nil, fmt.Errorf("eventstore/postgres: subscribe: %w", eventstore.ErrClosed)
	}
	s.subs[sub] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go sub.run()
	return sub, nil
}

func (sub *subscription) wakeUp() {
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// Events implements eventstore.Subscription.
func (sub *subscription) Events() <-chan eventstore.RecordedEvent { return sub.events }

// Err implements eventstore.Subscription.
func (sub *subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

// Close implements eventstore.Subscription.
func (sub *subscription) Close() error {
	sub.cancel(errSubscriptionClosed)
	<-sub.done
	return nil
}

func (sub *subscription) run() {
	s := sub.store
	err := sub.loop()
	if cause := context.Cause(sub.ctx); cause != nil {
		// The subscription was ended from outside; that, not the failed
		// query it interrupted, is why.
		err = cause
	}
	switch {
	case errors.Is(err, errSubscriptionClosed):
		err = nil
	case err != nil:
		err = fmt.Errorf("eventstore/postgres: subscription: %w", err)
	}
	sub.mu.Lock()
	sub.err = err
	sub.mu.Unlock()
	sub.cancel(nil)
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
	close(sub.events)
	close(sub.done)
	s.wg.Done()
}

type pageResult struct {
	events  []eventstore.RecordedEvent
	scanned eventstore.Position // filtered reads: every event up to here was looked at
	err     error
}

func (sub *subscription) read(after eventstore.Position) pageResult {
	s := sub.store
	var r pageResult
	if len(sub.prefixes) == 0 {
		r.events, r.err = s.readPage(sub.ctx, s.pool, after, nil, s.opts.pageSize())
	} else {
		r.events, r.scanned, r.err = s.readFilteredPage(sub.ctx, after, sub.prefixes, s.opts.pageSize())
	}
	return r
}

// loop delivers events until the subscription's context ends or a read
// fails. While catching up it reads the next page while the consumer takes
// the current one.
func (sub *subscription) loop() error {
	s := sub.store
	pageSize := s.opts.pageSize()
	timer := time.NewTimer(s.opts.safetyInterval())
	defer timer.Stop()
	var prefetch chan pageResult
	defer func() {
		if prefetch != nil {
			<-prefetch // the read ends: sub.ctx is done or it completes
		}
	}()
	for {
		var r pageResult
		if prefetch != nil {
			r = <-prefetch
			prefetch = nil
		} else {
			r = sub.read(sub.after)
		}
		if r.err != nil {
			return r.err
		}
		full := len(r.events) == pageSize
		if full {
			prefetch = make(chan pageResult, 1)
			go func(after eventstore.Position) { prefetch <- sub.read(after) }(r.events[len(r.events)-1].Position)
		}
		for _, e := range r.events {
			select {
			case sub.events <- e:
				sub.after = e.Position
			case <-sub.ctx.Done():
				return nil
			}
		}
		if full {
			continue // more to catch up
		}
		// Not full: the filter looked at everything up to scanned.
		sub.after = max(sub.after, r.scanned)
		timer.Reset(s.opts.safetyInterval())
		select {
		case <-sub.wake:
		case <-timer.C:
		case <-sub.ctx.Done():
			return nil
		}
	}
}
