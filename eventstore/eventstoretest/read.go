package eventstoretest

import (
	"testing"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

type readCase struct {
	name string
	opts eventstore.ReadStreamOptions
	want []uint64
}

func (s *suite) runReadCases(t *testing.T, abbr string, cases []readCase) {
	store := s.newStore(t)
	stream := prefix(t, abbr) + "s"
	evs := events(1, 5)
	// Two appends, so reads cross an append boundary.
	mustAppend(t, store, stream, eventstore.NoStream, evs[:2]...)
	mustAppend(t, store, stream, eventstore.Exact(2), evs[2:]...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mustRead(t, store, stream, c.opts)
			requireVersions(t, got, c.want...)
			for i, ev := range got {
				if want := evs[ev.Version-1].ID; ev.ID != want {
					t.Errorf("event %d version %d: ID %s, want %s", i, ev.Version, ev.ID, want)
				}
			}
		})
	}
}

func (s *suite) testReadStreamForwards(t *testing.T) {
	f := eventstore.Forwards
	s.runReadCases(t, "rf", []readCase{
		{"All", eventstore.ReadStreamOptions{Direction: f}, []uint64{1, 2, 3, 4, 5}},
		{"FromOne", eventstore.ReadStreamOptions{Direction: f, From: 1}, []uint64{1, 2, 3, 4, 5}},
		{"FromVersion", eventstore.ReadStreamOptions{Direction: f, From: 3}, []uint64{3, 4, 5}},
		{"Limit", eventstore.ReadStreamOptions{Direction: f, Limit: 2}, []uint64{1, 2}},
		{"FromVersionLimit", eventstore.ReadStreamOptions{Direction: f, From: 2, Limit: 2}, []uint64{2, 3}},
		{"LimitBeyondEnd", eventstore.ReadStreamOptions{Direction: f, From: 4, Limit: 10}, []uint64{4, 5}},
		{"FromLast", eventstore.ReadStreamOptions{Direction: f, From: 5}, []uint64{5}},
		{"FromPastEnd", eventstore.ReadStreamOptions{Direction: f, From: 6}, nil},
	})
}

func (s *suite) testReadStreamBackwards(t *testing.T) {
	b := eventstore.Backwards
	s.runReadCases(t, "rb", []readCase{
		{"FromEnd", eventstore.ReadStreamOptions{Direction: b}, []uint64{5, 4, 3, 2, 1}},
		{"FromEndLimit", eventstore.ReadStreamOptions{Direction: b, Limit: 2}, []uint64{5, 4}},
		{"FromEndLimitOne", eventstore.ReadStreamOptions{Direction: b, Limit: 1}, []uint64{5}},
		{"FromVersion", eventstore.ReadStreamOptions{Direction: b, From: 3}, []uint64{3, 2, 1}},
		{"FromVersionLimit", eventstore.ReadStreamOptions{Direction: b, From: 3, Limit: 2}, []uint64{3, 2}},
		{"FromFirst", eventstore.ReadStreamOptions{Direction: b, From: 1}, []uint64{1}},
		{"FromLastLimitBeyondStart", eventstore.ReadStreamOptions{Direction: b, From: 5, Limit: 10}, []uint64{5, 4, 3, 2, 1}},
	})
}

func (s *suite) testReadAllAfterPosition(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "ra")
	a, b := p+"a", p+"b"

	mustAppend(t, store, a, eventstore.NoStream, event(0)) // before the captured position
	head := mustHead(t, store)

	// Interleave appends to two streams.
	var want []eventstore.EventData
	va, vb := uint64(1), uint64(0)
	for i := range 6 {
		ev := event(i + 1)
		if i%2 == 0 {
			mustAppend(t, store, a, eventstore.Exact(va), ev)
			va++
		} else {
			mustAppend(t, store, b, eventstore.Exact(vb), ev)
			vb++
		}
		want = append(want, ev)
	}
	batch := events(20, 3)
	mustAppend(t, store, b, eventstore.Exact(vb), batch...)
	want = append(want, batch...)

	got := readAllFrom(t, store, head, 0, p)
	requireIDs(t, got, want)
	requireIncreasing(t, got)
	for i, ev := range got {
		if !jsonEqual(ev.Data, want[i].Data) || ev.Type != want[i].Type {
			t.Errorf("event %d: type %q data %s, want %q %s", i, ev.Type, ev.Data, want[i].Type, want[i].Data)
		}
	}
	// The events read from the log carry the same positions as those read
	// from their streams.
	fromStreams := map[string]eventstore.Position{}
	for _, st := range []string{a, b} {
		for _, ev := range mustRead(t, store, st, eventstore.ReadStreamOptions{}) {
			fromStreams[ev.ID.String()] = ev.Position
		}
	}
	for _, ev := range got {
		if p := fromStreams[ev.ID.String()]; p != ev.Position {
			t.Errorf("event %s: ReadAll position %d, ReadStream position %d", ev.ID, ev.Position, p)
		}
	}

	// Reading after a position taken from the middle gives exactly the rest.
	mid := got[3].Position
	requireIDs(t, readAllFrom(t, store, mid, 0, p), want[4:])
	// Reading after the last event gives nothing.
	if rest := readAllFrom(t, store, got[len(got)-1].Position, 0, p); len(rest) != 0 {
		t.Errorf("read all after the last event: %d events, want none", len(rest))
	}
}

func (s *suite) testReadAllLimit(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "rl")
	head := mustHead(t, store)
	want := events(1, 7)
	mustAppend(t, store, p+"a", eventstore.NoStream, want[:4]...)
	mustAppend(t, store, p+"b", eventstore.NoStream, want[4:]...)

	page, err := store.ReadAll(t.Context(), eventstore.ReadAllOptions{After: head, Limit: 3, StreamPrefixes: []string{p}})
	if err != nil {
		t.Fatalf("read all with limit: %v", err)
	}
	requireIDs(t, page, want[:3])

	// Paging by 2 yields every event once, in order.
	requireIDs(t, readAllFrom(t, store, head, 2, p), want)
	// Paging by 1 too.
	requireIDs(t, readAllFrom(t, store, head, 1, p), want)
}

func (s *suite) testReadAllStreamPrefixes(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "rp")
	head := mustHead(t, store)
	var wantAB, wantC []eventstore.EventData
	for i := range 9 {
		ev := event(i)
		switch i % 3 {
		case 0:
			mustAppend(t, store, p+"alpha-1", eventstore.Any, ev)
			wantAB = append(wantAB, ev)
		case 1:
			mustAppend(t, store, p+"beta-1", eventstore.Any, ev)
			wantAB = append(wantAB, ev)
		default:
			mustAppend(t, store, p+"gamma-1", eventstore.Any, ev)
			wantC = append(wantC, ev)
		}
	}
	got := readAllFrom(t, store, head, 0, p+"alpha-", p+"beta-")
	requireIDs(t, got, wantAB)
	requireIncreasing(t, got)
	requireIDs(t, readAllFrom(t, store, head, 0, p+"gamma"), wantC)
	if got := readAllFrom(t, store, head, 0, p+"delta"); len(got) != 0 {
		t.Errorf("read all with a prefix matching nothing: %d events", len(got))
	}
}
