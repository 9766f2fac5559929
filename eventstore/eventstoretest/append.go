package eventstoretest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

func (s *suite) testRoundTrip(t *testing.T) {
	store := s.newStore(t)
	stream := prefix(t, "rt") + "s"
	want := events(1, 3)
	before := time.Now().Add(-5 * time.Minute)

	res := mustAppend(t, store, stream, eventstore.NoStream, want...)
	if res.NextVersion != 3 {
		t.Errorf("AppendResult.NextVersion = %d, want 3", res.NextVersion)
	}

	got := mustRead(t, store, stream, eventstore.ReadStreamOptions{})
	requireIDs(t, got, want)
	requireVersions(t, got, 1, 2, 3)
	requireIncreasing(t, got)
	after := time.Now().Add(5 * time.Minute)
	for i, ev := range got {
		if ev.StreamID != stream {
			t.Errorf("event %d: StreamID %q, want %q", i, ev.StreamID, stream)
		}
		if ev.Type != want[i].Type {
			t.Errorf("event %d: Type %q, want %q", i, ev.Type, want[i].Type)
		}
		if !jsonEqual(ev.Data, want[i].Data) {
			t.Errorf("event %d: Data %s, want %s", i, ev.Data, want[i].Data)
		}
		if !jsonEqual(ev.Metadata, want[i].Metadata) {
			t.Errorf("event %d: Metadata %s, want %s", i, ev.Metadata, want[i].Metadata)
		}
		if ev.RecordedAt.Before(before) || ev.RecordedAt.After(after) {
			t.Errorf("event %d: RecordedAt %s, want about now", i, ev.RecordedAt)
		}
		if ev.RecordedAt.Location() != time.UTC {
			t.Errorf("event %d: RecordedAt location %s, want UTC", i, ev.RecordedAt.Location())
		}
	}
	if res.Position != got[2].Position {
		t.Errorf("AppendResult.Position = %d, want last event's position %d", res.Position, got[2].Position)
	}

	// A second append continues the stream's versions and the log's positions.
	more := events(4, 2)
	res2 := mustAppend(t, store, stream, eventstore.Exact(3), more...)
	if res2.NextVersion != 5 {
		t.Errorf("second AppendResult.NextVersion = %d, want 5", res2.NextVersion)
	}
	got = mustRead(t, store, stream, eventstore.ReadStreamOptions{})
	requireIDs(t, got, append(want, more...))
	requireVersions(t, got, 1, 2, 3, 4, 5)
	requireIncreasing(t, got)
	if res2.Position != got[4].Position {
		t.Errorf("second AppendResult.Position = %d, want %d", res2.Position, got[4].Position)
	}
}

func (s *suite) testReadMissingStream(t *testing.T) {
	store := s.newStore(t)
	stream := prefix(t, "rm") + "missing"
	for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
		evs, err := store.ReadStream(t.Context(), stream, eventstore.ReadStreamOptions{Direction: dir})
		if !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Errorf("read missing stream (direction %d): %d events, err %v; want ErrStreamNotFound", dir, len(evs), err)
		}
	}
}

// expectedCase is one append at an expected version against a stream that
// holds existing events beforehand.
type expectedCase struct {
	name     string
	existing int
	expected eventstore.ExpectedVersion
	ok       bool
}

func (s *suite) runExpectedCases(t *testing.T, abbr string, cases []expectedCase) {
	store := s.newStore(t)
	p := prefix(t, abbr)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stream := p + string(rune('a'+i))
			var seeded []eventstore.EventData
			if c.existing > 0 {
				seeded = events(1, c.existing)
				mustAppend(t, store, stream, eventstore.NoStream, seeded...)
			}
			add := events(100, 2)
			res, err := store.Append(t.Context(), stream, c.expected, add...)
			if !c.ok {
				requireWrongExpectedVersion(t, err, stream, c.expected, uint64(c.existing))
				if c.existing == 0 {
					requireNotWritten(t, store, stream)
				} else {
					requireIDs(t, mustRead(t, store, stream, eventstore.ReadStreamOptions{}), seeded)
				}
				return
			}
			if err != nil {
				t.Fatalf("append to stream with %d events at expected %s: %v", c.existing, c.expected, err)
			}
			if want := uint64(c.existing + 2); res.NextVersion != want {
				t.Errorf("NextVersion = %d, want %d", res.NextVersion, want)
			}
			got := mustRead(t, store, stream, eventstore.ReadStreamOptions{})
			requireIDs(t, got, append(seeded, add...))
		})
	}
}

func (s *suite) testAppendExpectedAny(t *testing.T) {
	s.runExpectedCases(t, "ea", []expectedCase{
		{"MissingStream", 0, eventstore.Any, true},
		{"ExistingStream", 2, eventstore.Any, true},
	})
}

func (s *suite) testAppendExpectedNoStream(t *testing.T) {
	s.runExpectedCases(t, "en", []expectedCase{
		{"MissingStream", 0, eventstore.NoStream, true},
		{"ExistingStream", 1, eventstore.NoStream, false},
		{"ExistingStream3", 3, eventstore.NoStream, false},
		{"ExactZeroIsNoStream", 0, eventstore.Exact(0), true},
		{"ExactZeroOnExisting", 2, eventstore.Exact(0), false},
	})
}

func (s *suite) testAppendExpectedStreamExists(t *testing.T) {
	s.runExpectedCases(t, "ee", []expectedCase{
		{"MissingStream", 0, eventstore.StreamExists, false},
		{"ExistingStream", 1, eventstore.StreamExists, true},
		{"ExistingStream3", 3, eventstore.StreamExists, true},
	})
}

func (s *suite) testAppendExpectedExact(t *testing.T) {
	s.runExpectedCases(t, "ex", []expectedCase{
		{"Current", 3, eventstore.Exact(3), true},
		{"CurrentOne", 1, eventstore.Exact(1), true},
		{"Stale", 3, eventstore.Exact(2), false},
		{"Future", 3, eventstore.Exact(4), false},
		{"MissingStream", 0, eventstore.Exact(1), false},
	})
}

func (s *suite) testConcurrentAppendsOneWinner(t *testing.T) {
	const contenders = 20
	store := s.newStore(t)
	p := prefix(t, "cw")
	for _, c := range []struct {
		name     string
		existing int
		expected eventstore.ExpectedVersion
	}{
		{"NoStream", 0, eventstore.NoStream},
		{"Exact", 1, eventstore.Exact(1)},
		{"ExactLater", 5, eventstore.Exact(5)},
	} {
		t.Run(c.name, func(t *testing.T) {
			stream := p + c.name
			var seeded []eventstore.EventData
			if c.existing > 0 {
				seeded = events(1, c.existing)
				mustAppend(t, store, stream, eventstore.NoStream, seeded...)
			}
			batches := make([][]eventstore.EventData, contenders)
			results := make([]eventstore.AppendResult, contenders)
			errs := make([]error, contenders)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range contenders {
				batches[i] = events(100*i, 2)
				wg.Go(func() {
					<-start
					results[i], errs[i] = store.Append(t.Context(), stream, c.expected, batches[i]...)
				})
			}
			close(start)
			wg.Wait()

			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("contenders %d and %d both won at expected %s", winner, i, c.expected)
				case err == nil:
					winner = i
				default:
					requireWrongExpectedVersion(t, err, stream, c.expected, uint64(c.existing+2))
				}
			}
			if winner < 0 {
				t.Fatalf("no contender won at expected %s; first error: %v", c.expected, errs[0])
			}
			if want := uint64(c.existing + 2); results[winner].NextVersion != want {
				t.Errorf("winner NextVersion = %d, want %d", results[winner].NextVersion, want)
			}
			got := mustRead(t, store, stream, eventstore.ReadStreamOptions{})
			requireIDs(t, got, append(seeded, batches[winner]...))
		})
	}
}

func (s *suite) testIdempotentAppend(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "id")
	for _, c := range []struct {
		name     string
		expected eventstore.ExpectedVersion // of the first append
		again    []eventstore.ExpectedVersion
	}{
		{"NoStream", eventstore.NoStream, []eventstore.ExpectedVersion{eventstore.NoStream, eventstore.NoStream, eventstore.Any}},
		{"Exact", eventstore.Exact(2), []eventstore.ExpectedVersion{eventstore.Exact(2), eventstore.Any}},
		{"Any", eventstore.Any, []eventstore.ExpectedVersion{eventstore.Any, eventstore.Any}},
	} {
		t.Run(c.name, func(t *testing.T) {
			stream := p + c.name
			var seeded []eventstore.EventData
			if v, ok := c.expected.ExactVersion(); ok {
				seeded = events(1, int(v))
				mustAppend(t, store, stream, eventstore.NoStream, seeded...)
			}
			batch := events(10, 3)
			first := mustAppend(t, store, stream, c.expected, batch...)
			for _, exp := range c.again {
				again, err := store.Append(t.Context(), stream, exp, batch...)
				if err != nil {
					t.Fatalf("re-append of the same event IDs at expected %s: %v", exp, err)
				}
				if again != first {
					t.Errorf("re-append at expected %s: result %+v, want the original %+v", exp, again, first)
				}
			}
			got := mustRead(t, store, stream, eventstore.ReadStreamOptions{})
			requireIDs(t, got, append(seeded, batch...))

			// The stream still moves on normally afterwards.
			next := event(50)
			res := mustAppend(t, store, stream, eventstore.Exact(first.NextVersion), next)
			if res.NextVersion != first.NextVersion+1 {
				t.Errorf("append after re-append: NextVersion %d, want %d", res.NextVersion, first.NextVersion+1)
			}
		})
	}
}
