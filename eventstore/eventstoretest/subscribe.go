package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

func (s *suite) testSubscribeAllFilter(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "sf")
	in, out := p+"in-", p+"out-"
	head := mustHead(t, store)

	var want []eventstore.EventData
	appendMix := func(first int) {
		for i := range 6 {
			ev := event(first + i)
			if i%2 == 0 {
				mustAppend(t, store, fmt.Sprintf("%s%d", in, i%4), eventstore.Any, ev)
				want = append(want, ev)
			} else {
				mustAppend(t, store, fmt.Sprintf("%s%d", out, i%4), eventstore.Any, ev)
			}
		}
	}
	appendMix(0) // caught up from storage

	sub := subscribe(t, store, eventstore.SubscribeOptions{After: head, StreamPrefixes: []string{in}})
	got := receive(t, sub, len(want), s.opts.Wait)

	appendMix(100) // delivered live
	// A final matching event: everything before it has been delivered or
	// filtered by the time it arrives.
	last := event(200)
	mustAppend(t, store, in+"last", eventstore.NoStream, last)
	want = append(want, last)
	got = append(got, receiveUntil(t, sub, last.ID, s.opts.Wait)...)

	for _, ev := range got {
		if !strings.HasPrefix(ev.StreamID, in) {
			t.Errorf("subscription filtered by %q delivered event %s of stream %q", in, ev.ID, ev.StreamID)
		}
	}
	requireIDs(t, got, want)
	requireIncreasing(t, got)
}

func (s *suite) testSubscribeResume(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "sr")
	evs := events(1, 5)
	mustAppend(t, store, p+"a", eventstore.NoStream, evs[:2]...)
	mustAppend(t, store, p+"b", eventstore.NoStream, evs[2])
	mustAppend(t, store, p+"a", eventstore.Exact(2), evs[3:]...)

	// A consumer stored the position of the third event; it resumes after it.
	var stored eventstore.Position
	for _, ev := range mustRead(t, store, p+"b", eventstore.ReadStreamOptions{}) {
		stored = ev.Position
	}
	sub := subscribe(t, store, eventstore.SubscribeOptions{After: stored, StreamPrefixes: []string{p}})
	got := receive(t, sub, 2, s.opts.Wait)
	requireIDs(t, got, evs[3:])
	if got[0].Position <= stored {
		t.Errorf("first event after resume at position %d, not after the stored %d", got[0].Position, stored)
	}

	// And then continues live.
	next := event(6)
	mustAppend(t, store, p+"b", eventstore.Exact(1), next)
	requireIDs(t, receive(t, sub, 1, s.opts.Wait), []eventstore.EventData{next})

	// Resuming after every position seen so far delivers the next event only.
	for i, ev := range got {
		sub := subscribe(t, store, eventstore.SubscribeOptions{After: ev.Position, StreamPrefixes: []string{p}})
		first := receive(t, sub, 1, s.opts.Wait)
		want := next.ID
		if i+1 < len(got) {
			want = got[i+1].ID
		}
		if first[0].ID != want {
			t.Errorf("resume after position %d: first event %s, want %s", ev.Position, first[0].ID, want)
		}
		_ = sub.Close()
	}
}

func (s *suite) testSubscribeLiveAfterCatchUp(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "sl")
	head := mustHead(t, store)
	stored := events(1, 3)
	mustAppend(t, store, p+"s", eventstore.NoStream, stored...)

	sub := subscribe(t, store, eventstore.SubscribeOptions{After: head, StreamPrefixes: []string{p}})
	caught := receive(t, sub, 3, s.opts.Wait)
	requireIDs(t, caught, stored)

	// Live: each new append arrives within a bounded time, not after a
	// polling interval piles up.
	const liveWait = 5 * time.Second
	version := uint64(3)
	all := caught
	for i := range 5 {
		ev := event(10 + i)
		start := time.Now()
		mustAppend(t, store, p+"s", eventstore.Exact(version), ev)
		version++
		got := receive(t, sub, 1, liveWait)
		requireIDs(t, got, []eventstore.EventData{ev})
		t.Logf("live event %d delivered in %s", i, time.Since(start))
		all = append(all, got...)
	}
	// A live batch arrives in order too.
	batch := events(20, 4)
	mustAppend(t, store, p+"s", eventstore.Exact(version), batch...)
	got := receive(t, sub, len(batch), liveWait)
	requireIDs(t, got, batch)
	all = append(all, got...)
	requireIncreasing(t, all)
	for i, ev := range all {
		if ev.Version != uint64(i+1) || ev.StreamID != p+"s" {
			t.Errorf("event %d: stream %q version %d, want %q %d", i, ev.StreamID, ev.Version, p+"s", i+1)
		}
	}
}

func (s *suite) testConcurrentWritersWithSubscriber(t *testing.T) {
	load := s.opts.Load
	total := load.Writers * load.EventsPerWriter
	store := s.newStore(t)
	p := prefix(t, "cs")
	timeout := load.Timeout
	if deadline, ok := t.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline)-15*time.Second)
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var appended atomic.Int64

	head := mustHead(t, store)
	sub, err := store.SubscribeAll(ctx, eventstore.SubscribeOptions{After: head, StreamPrefixes: []string{p}})
	if err != nil {
		t.Fatalf("subscribe all: %v", err)
	}
	defer func() { _ = sub.Close() }()

	written := make([][]uuid.UUID, load.Writers)
	writeErrs := make(chan error, load.Writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range load.Writers {
		written[w] = make([]uuid.UUID, 0, load.EventsPerWriter)
		wg.Go(func() {
			<-start
			stream := fmt.Sprintf("%sw%d", p, w)
			for i := range load.EventsPerWriter {
				ev := event(w*load.EventsPerWriter + i)
				if _, err := store.Append(ctx, stream, eventstore.Exact(uint64(i)), ev); err != nil {
					writeErrs <- fmt.Errorf("writer %d append %d: %w", w, i, err)
					return
				}
				written[w] = append(written[w], ev.ID)
				appended.Add(1)
			}
		})
	}
	writersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(writersDone)
	}()
	close(start)

	seen := make(map[uuid.UUID]int, total)
	var last eventstore.Position
	var sentinel uuid.UUID
	var sentinelSent bool
	delivered := 0
	began := time.Now()
	progress := func() string {
		return fmt.Sprintf("%d of %d appends done, %d events delivered, writers done: %v, elapsed %s",
			appended.Load(), total, delivered, writersDone == nil, time.Since(began).Round(time.Millisecond))
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastProgress, lastAppended, lastDelivered := time.Now(), int64(0), 0
receiving:
	for {
		select {
		case err := <-writeErrs:
			t.Fatalf("%v", err)
		case <-writersDone:
			writersDone = nil
			// A sentinel after all writers: once it arrives, every event
			// written before it must have been delivered.
			ev := event(-1)
			sentinel = ev.ID
			if _, err := store.Append(ctx, p+"end", eventstore.NoStream, ev); err != nil {
				t.Fatalf("append sentinel: %v", err)
			}
			sentinelSent = true
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription ended after %d of %d events: %v", delivered, total, sub.Err())
			}
			if ev.Position <= last {
				t.Fatalf("event %s at position %d delivered after position %d (delivery #%d)", ev.ID, ev.Position, last, delivered+1)
			}
			last = ev.Position
			if !strings.HasPrefix(ev.StreamID, p) {
				t.Fatalf("event of foreign stream %q delivered", ev.StreamID)
			}
			if sentinelSent && ev.ID == sentinel {
				break receiving
			}
			delivered++
			if seen[ev.ID]++; seen[ev.ID] > 1 {
				t.Fatalf("event %s delivered twice", ev.ID)
			}
		case <-tick.C:
			if a := appended.Load(); a != lastAppended || delivered != lastDelivered {
				lastProgress, lastAppended, lastDelivered = time.Now(), a, delivered
			} else if time.Since(lastProgress) > load.Stall {
				t.Fatalf("stalled: no append completed and no event delivered for %s; %s", load.Stall, progress())
			}
		case <-ctx.Done():
			t.Fatalf("timed out after %s: %s", timeout, progress())
		}
	}
	elapsed := time.Since(began)
	missing := 0
	for w := range written {
		if len(written[w]) != load.EventsPerWriter {
			t.Fatalf("writer %d wrote %d of %d events", w, len(written[w]), load.EventsPerWriter)
		}
		for _, id := range written[w] {
			if seen[id] != 1 {
				missing++
			}
		}
	}
	if missing > 0 || delivered != total {
		t.Fatalf("delivered %d events, want %d; %d written events missing", delivered, total, missing)
	}
	t.Logf("%d writers x %d appends: %d events delivered in order in %s (%.0f events/s)",
		load.Writers, load.EventsPerWriter, total, elapsed, float64(total)/elapsed.Seconds())
}

func (s *suite) testHead(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "hd")
	before := mustHead(t, store)
	res := mustAppend(t, store, p+"a", eventstore.NoStream, events(1, 2)...)
	if res.Position <= before {
		t.Errorf("append landed at %d, not after the previous head %d", res.Position, before)
	}
	if head := mustHead(t, store); head < res.Position {
		t.Errorf("head %d is before the last appended position %d", head, res.Position)
	}
	res2 := mustAppend(t, store, p+"b", eventstore.NoStream, event(3))
	if res2.Position <= res.Position {
		t.Errorf("later append at %d, not after %d", res2.Position, res.Position)
	}
	if head := mustHead(t, store); head < res2.Position {
		t.Errorf("head %d is before the last appended position %d", head, res2.Position)
	}
}

func (s *suite) testSubscriptionClose(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "sc")
	head := mustHead(t, store)
	mustAppend(t, store, p+"s", eventstore.NoStream, events(1, 2)...)
	sub := subscribe(t, store, eventstore.SubscribeOptions{After: head, StreamPrefixes: []string{p}})
	receive(t, sub, 1, s.opts.Wait)

	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	if err := requireEnded(t, sub, s.opts.Wait); err != nil {
		t.Errorf("Err after Close = %v, want nil", err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(s.opts.Wait):
		t.Fatalf("Close did not return within %s", s.opts.Wait)
	}
	if err := sub.Err(); err != nil {
		t.Errorf("Err after Close returned = %v, want nil", err)
	}
	if err := sub.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The store keeps working.
	mustAppend(t, store, p+"s", eventstore.Exact(2), event(3))
}

func (s *suite) testSubscriptionContextCancel(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "sx")
	head := mustHead(t, store)
	mustAppend(t, store, p+"s", eventstore.NoStream, event(1))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sub, err := store.SubscribeAll(ctx, eventstore.SubscribeOptions{After: head, StreamPrefixes: []string{p}})
	if err != nil {
		t.Fatalf("subscribe all: %v", err)
	}
	defer func() { _ = sub.Close() }()
	receive(t, sub, 1, s.opts.Wait)

	cancel()
	if err := requireEnded(t, sub, s.opts.Wait); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after cancelling the context = %v, want context.Canceled", err)
	}
	if err := sub.Close(); err != nil {
		t.Errorf("Close after cancellation: %v", err)
	}
	if err := sub.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after cancellation and Close = %v, want context.Canceled", err)
	}
}

func (s *suite) testStoreClose(t *testing.T) {
	store := s.newStore(t) // its own store: closing it affects no other case
	p := prefix(t, "cl")
	head := mustHead(t, store)
	mustAppend(t, store, p+"s", eventstore.NoStream, event(1))
	sub := subscribe(t, store, eventstore.SubscribeOptions{After: head, StreamPrefixes: []string{p}})
	receive(t, sub, 1, s.opts.Wait)

	if err := store.Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
	if err := requireEnded(t, sub, s.opts.Wait); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("subscription Err after store Close = %v, want ErrClosed", err)
	}
	ctx := context.Background()
	if _, err := store.Append(ctx, p+"s", eventstore.Any, event(2)); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := store.ReadStream(ctx, p+"s", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("ReadStream after Close: %v, want ErrClosed", err)
	}
	if _, err := store.ReadAll(ctx, eventstore.ReadAllOptions{After: head, StreamPrefixes: []string{p}}); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("ReadAll after Close: %v, want ErrClosed", err)
	}
	if _, err := store.Head(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Head after Close: %v, want ErrClosed", err)
	}
	if sub, err := store.SubscribeAll(ctx, eventstore.SubscribeOptions{}); !errors.Is(err, eventstore.ErrClosed) {
		if err == nil {
			_ = sub.Close()
		}
		t.Errorf("SubscribeAll after Close: %v, want ErrClosed", err)
	}
	if err := sub.Close(); err != nil {
		t.Errorf("subscription Close after store Close: %v", err)
	}
}
