package esdb

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// defaultSubscriptionBuffer is the Events channel capacity when the caller
// gives none.
const defaultSubscriptionBuffer = 256

// errSubscriptionClosed is the cancellation cause of Subscription.Close.
var errSubscriptionClosed = errors.New("subscription closed")

// userStreamsRegex matches every stream not starting with '$'. It is the
// server-side filter when no prefixes are given; EventStoreDB's own
// ExcludeSystemEventsFilter works on event types, not stream names.
const userStreamsRegex = `^[^$]`

// SubscribeAll subscribes to $all after opts.After with a server-side stream
// filter (the prefixes, or all non-system streams). Checkpoint, caught-up
// and fell-behind notifications are consumed; events are delivered in
// position order, each once.
func (s *Store) SubscribeAll(ctx context.Context, opts eventstore.SubscribeOptions) (eventstore.Subscription, error) {
	const op = "subscribe to all"
	if opts.Buffer < 0 {
		return nil, fmt.Errorf("esdb: %s: negative buffer %d", op, opts.Buffer)
	}
	for _, p := range opts.StreamPrefixes {
		if p == "" {
			return nil, fmt.Errorf("esdb: %s: empty stream prefix", op)
		}
	}
	opCtx, end, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("esdb: %s: %w", op, err)
	}
	subCtx, cancel := context.WithCancelCause(opCtx)

	var from esdb.AllPosition = esdb.Start{}
	if opts.After > 0 {
		from = esdb.Position{Commit: uint64(opts.After), Prepare: uint64(opts.After)}
	}
	filter := &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: userStreamsRegex}
	if len(opts.StreamPrefixes) > 0 {
		filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: opts.StreamPrefixes}
	}
	inner, err := s.client.SubscribeToAll(subCtx, esdb.SubscribeToAllOptions{From: from, Filter: filter})
	if err != nil {
		err = s.failure(ctx, subCtx, op, err)
		cancel(nil)
		end()
		return nil, err
	}
	buffer := opts.Buffer
	if buffer == 0 {
		buffer = defaultSubscriptionBuffer
	}
	sub := &subscription{
		events: make(chan eventstore.RecordedEvent, buffer),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer end()
		sub.run(ctx, subCtx, inner, opts)
	}()
	return sub, nil
}

// subscription implements eventstore.Subscription over an esdb.Subscription.
type subscription struct {
	events chan eventstore.RecordedEvent
	cancel context.CancelCauseFunc
	done   chan struct{}

	mu  sync.Mutex
	err error
}

// Events yields the events in position order; it is closed when the
// subscription ends.
func (sub *subscription) Events() <-chan eventstore.RecordedEvent { return sub.events }

// Err tells why the subscription ended (nil while it runs and after Close).
func (sub *subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

// Close ends the subscription and waits for its goroutine.
func (sub *subscription) Close() error {
	sub.cancel(errSubscriptionClosed)
	<-sub.done
	return nil
}

func (sub *subscription) run(ctx, subCtx context.Context, inner *esdb.Subscription, opts eventstore.SubscribeOptions) {
	var err error
	defer func() {
		_ = inner.Close()
		sub.mu.Lock()
		sub.err = err
		sub.mu.Unlock()
		close(sub.events)
		close(sub.done)
	}()
	last := opts.After
	for {
		msg := inner.Recv()
		switch {
		case msg.SubscriptionDropped != nil:
			err = ended(ctx, subCtx, msg.SubscriptionDropped.Error)
			return
		case msg.EventAppeared != nil:
			rec := toRecorded(msg.EventAppeared)
			if rec.Position <= last {
				continue // at or before the start, or already delivered
			}
			last = rec.Position
			if isSystem(rec.StreamID) || !eventstore.MatchesPrefix(rec.StreamID, opts.StreamPrefixes) {
				continue
			}
			select {
			case sub.events <- rec:
			case <-subCtx.Done():
				err = ended(ctx, subCtx, context.Cause(subCtx))
				return
			}
		default:
			// Checkpoints, caught-up and fell-behind carry nothing to deliver.
		}
	}
}

// ended classifies why a subscription stopped.
func ended(ctx, subCtx context.Context, dropped error) error {
	cause := context.Cause(subCtx)
	switch {
	case errors.Is(cause, errSubscriptionClosed):
		return nil
	case errors.Is(cause, eventstore.ErrClosed):
		return fmt.Errorf("esdb: subscription: %w", eventstore.ErrClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("esdb: subscription: %w", ctx.Err())
	}
	return fmt.Errorf("esdb: subscription dropped: %w", dropped)
}
