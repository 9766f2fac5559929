package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/eventstoretest"
	"github.com/palimpsest-cms/palimpsest/eventstore/memory"
)

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, func(t testing.TB) eventstore.Store {
		s := memory.New(eventstore.Options{})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func newEvent(t testing.TB, n int) eventstore.EventData {
	t.Helper()
	return eventstore.EventData{ID: uuid.New(), Type: "Test", Data: fmt.Appendf(nil, `{"n":%d}`, n)}
}

func TestPositionsDenseFromOne(t *testing.T) {
	s := memory.New(eventstore.Options{})
	defer s.Close()
	ctx := t.Context()
	for i, c := range []struct {
		stream   string
		events   int
		wantPos  eventstore.Position
		wantNext uint64
	}{
		{"a", 1, 1, 1},
		{"b", 3, 4, 3},
		{"a", 2, 6, 3},
	} {
		evs := make([]eventstore.EventData, c.events)
		for j := range evs {
			evs[j] = newEvent(t, j)
		}
		res, err := s.Append(ctx, c.stream, eventstore.Any, evs...)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if res.Position != c.wantPos || res.NextVersion != c.wantNext {
			t.Errorf("append %d: %+v, want position %d next version %d", i, res, c.wantPos, c.wantNext)
		}
	}
	all, err := s.ReadAll(ctx, eventstore.ReadAllOptions{})
	if err != nil {
		t.Fatalf("read all: %v", err)
	}
	for i, ev := range all {
		if ev.Position != eventstore.Position(i+1) {
			t.Errorf("event %d at position %d, want %d", i, ev.Position, i+1)
		}
	}
	if head, _ := s.Head(ctx); head != 6 {
		t.Errorf("head = %d, want 6", head)
	}
}

func TestCopiesEventBytes(t *testing.T) {
	s := memory.New(eventstore.Options{})
	defer s.Close()
	ctx := t.Context()
	ev := newEvent(t, 1)
	if _, err := s.Append(ctx, "s", eventstore.NoStream, ev); err != nil {
		t.Fatalf("append: %v", err)
	}
	ev.Data[2] = 'X' // the caller reuses its buffer
	got, err := s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	got[0].Data[2] = 'Y' // a reader scribbles on its copy
	again, err := s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(again[0].Data) != `{"n":1}` {
		t.Errorf("stored data = %s, want {\"n\":1}", again[0].Data)
	}
}

func TestReadAllDefaultLimit(t *testing.T) {
	s := memory.New(eventstore.Options{})
	defer s.Close()
	ctx := t.Context()
	evs := make([]eventstore.EventData, 1500)
	for i := range evs {
		evs[i] = newEvent(t, i)
	}
	if _, err := s.Append(ctx, "s", eventstore.NoStream, evs...); err != nil {
		t.Fatalf("append: %v", err)
	}
	for _, c := range []struct {
		opts eventstore.ReadAllOptions
		want int
	}{
		{eventstore.ReadAllOptions{}, 1000},
		{eventstore.ReadAllOptions{After: 1000}, 500},
		{eventstore.ReadAllOptions{Limit: 2000}, 1500},
		{eventstore.ReadAllOptions{After: 1500}, 0},
		{eventstore.ReadAllOptions{After: 9999}, 0},
	} {
		got, err := s.ReadAll(ctx, c.opts)
		if err != nil {
			t.Fatalf("read all %+v: %v", c.opts, err)
		}
		if len(got) != c.want {
			t.Errorf("read all %+v: %d events, want %d", c.opts, len(got), c.want)
		}
	}
}

func TestSlowSubscriberGetsEverything(t *testing.T) {
	s := memory.New(eventstore.Options{})
	defer s.Close()
	ctx := t.Context()
	sub, err := s.SubscribeAll(ctx, eventstore.SubscribeOptions{Buffer: 1})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()
	const n = 2000
	go func() {
		for i := range n {
			if _, err := s.Append(ctx, fmt.Sprintf("s%d", i%7), eventstore.Any, newEvent(t, i)); err != nil {
				return
			}
		}
	}()
	timeout := time.After(30 * time.Second)
	for want := eventstore.Position(1); want <= n; want++ {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription ended at %d: %v", want, sub.Err())
			}
			if ev.Position != want {
				t.Fatalf("got position %d, want %d", ev.Position, want)
			}
		case <-timeout:
			t.Fatalf("timed out waiting for position %d", want)
		}
	}
}
