package eventstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// prefix returns a stream-name prefix unique to one case run, such as
// "cfrt-1a2b3c4d5e6f7a8b-".
func prefix(t testing.TB, abbr string) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random prefix: %v", err)
	}
	return "cf" + abbr + "-" + hex.EncodeToString(b[:]) + "-"
}

// event returns a valid event with distinct data and metadata for n.
func event(n int) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.New(),
		Type:     fmt.Sprintf("ConformanceEvent%d", n%3),
		Data:     fmt.Appendf(nil, `{"n":%d,"text":"event \u00e9 %d","nested":{"list":[1,2,%d]}}`, n, n, n),
		Metadata: fmt.Appendf(nil, `{"correlation_id":"c-%d","schema":1}`, n),
	}
}

// events returns n valid events numbered from first.
func events(first, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = event(first + i)
	}
	return out
}

func mustAppend(t testing.TB, s eventstore.Store, stream string, expected eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(t.Context(), stream, expected, evs...)
	if err != nil {
		t.Fatalf("append %d events to %q at expected %s: %v", len(evs), stream, expected, err)
	}
	return res
}

func mustRead(t testing.TB, s eventstore.Store, stream string, opts eventstore.ReadStreamOptions) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := s.ReadStream(t.Context(), stream, opts)
	if err != nil {
		t.Fatalf("read stream %q %+v: %v", stream, opts, err)
	}
	return evs
}

func mustHead(t testing.TB, s eventstore.Store) eventstore.Position {
	t.Helper()
	p, err := s.Head(t.Context())
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	return p
}

// readAllFrom reads every event after pos of streams under prefixes, paging
// with the given page size (0 = store default).
func readAllFrom(t testing.TB, s eventstore.Store, after eventstore.Position, pageSize int, prefixes ...string) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for range 100000 {
		page, err := s.ReadAll(t.Context(), eventstore.ReadAllOptions{After: after, Limit: pageSize, StreamPrefixes: prefixes})
		if err != nil {
			t.Fatalf("read all after %d %v: %v", after, prefixes, err)
		}
		if len(page) == 0 {
			return out
		}
		for _, ev := range page {
			if ev.Position <= after {
				t.Fatalf("read all after %d returned event at position %d", after, ev.Position)
			}
			after = ev.Position
		}
		out = append(out, page...)
	}
	t.Fatalf("read all after %d %v did not end", after, prefixes)
	return nil
}

// requireNotWritten fails unless stream holds no events.
func requireNotWritten(t testing.TB, s eventstore.Store, stream string) {
	t.Helper()
	evs, err := s.ReadStream(t.Context(), stream, eventstore.ReadStreamOptions{})
	if !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("read stream %q after refused append: got %d events, err %v; want ErrStreamNotFound", stream, len(evs), err)
	}
}

// requireVersions fails unless evs carry exactly the versions want, in order.
func requireVersions(t testing.TB, evs []eventstore.RecordedEvent, want ...uint64) {
	t.Helper()
	got := make([]uint64, len(evs))
	for i, ev := range evs {
		got[i] = ev.Version
	}
	if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("versions = %v, want %v", got, want)
	}
}

// requireIDs fails unless evs carry exactly the IDs of want, in order.
func requireIDs(t testing.TB, evs []eventstore.RecordedEvent, want []eventstore.EventData) {
	t.Helper()
	if len(evs) != len(want) {
		t.Fatalf("got %d events %v, want %d %v", len(evs), recordedIDs(evs), len(want), dataIDs(want))
	}
	for i := range evs {
		if evs[i].ID != want[i].ID {
			t.Fatalf("event %d: ID %s, want %s (got %v, want %v)", i, evs[i].ID, want[i].ID, recordedIDs(evs), dataIDs(want))
		}
	}
}

// requireIncreasing fails unless positions strictly increase.
func requireIncreasing(t testing.TB, evs []eventstore.RecordedEvent) {
	t.Helper()
	for i, ev := range evs {
		if ev.Position == 0 {
			t.Fatalf("event %d (%s) has position 0", i, ev.ID)
		}
		if i > 0 && ev.Position <= evs[i-1].Position {
			t.Fatalf("event %d position %d not after event %d position %d", i, ev.Position, i-1, evs[i-1].Position)
		}
	}
}

func recordedIDs(evs []eventstore.RecordedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func dataIDs(evs []eventstore.EventData) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// jsonEqual reports whether a and b are the same JSON document (stores may
// normalise whitespace and key order, as PostgreSQL jsonb does).
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// requireWrongExpectedVersion fails unless err is a wrong-expected-version
// error for stream and expected, reporting actual when it knows it.
func requireWrongExpectedVersion(t testing.TB, err error, stream string, expected eventstore.ExpectedVersion, actual uint64) {
	t.Helper()
	if err == nil {
		t.Fatalf("append to %q at expected %s succeeded, want ErrWrongExpectedVersion", stream, expected)
	}
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("append to %q at expected %s: %v; want errors.Is ErrWrongExpectedVersion", stream, expected, err)
	}
	var wev *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wev) {
		t.Fatalf("append to %q at expected %s: %v; want errors.As *WrongExpectedVersionError", stream, expected, err)
	}
	if wev.Stream != stream {
		t.Errorf("WrongExpectedVersionError.Stream = %q, want %q", wev.Stream, stream)
	}
	if wev.Expected != expected {
		t.Errorf("WrongExpectedVersionError.Expected = %s, want %s", wev.Expected, expected)
	}
	if wev.ActualKnown && wev.Actual != actual {
		t.Errorf("WrongExpectedVersionError.Actual = %d, want %d", wev.Actual, actual)
	}
}

func subscribe(t testing.TB, s eventstore.Store, opts eventstore.SubscribeOptions) eventstore.Subscription {
	t.Helper()
	sub, err := s.SubscribeAll(t.Context(), opts)
	if err != nil {
		t.Fatalf("subscribe all %+v: %v", opts, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// receive takes n events from sub, failing if it ends or wait passes first.
func receive(t testing.TB, sub eventstore.Subscription, n int, wait time.Duration) []eventstore.RecordedEvent {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	out := make([]eventstore.RecordedEvent, 0, n)
	for len(out) < n {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription ended after %d of %d events: %v", len(out), n, sub.Err())
			}
			out = append(out, ev)
		case <-timer.C:
			t.Fatalf("timed out after %s waiting for events: got %d of %d", wait, len(out), n)
		}
	}
	return out
}

// receiveUntil takes events from sub until one with ID last arrives.
func receiveUntil(t testing.TB, sub eventstore.Subscription, last uuid.UUID, wait time.Duration) []eventstore.RecordedEvent {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var out []eventstore.RecordedEvent
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription ended after %d events before %s: %v", len(out), last, sub.Err())
			}
			out = append(out, ev)
			if ev.ID == last {
				return out
			}
		case <-timer.C:
			t.Fatalf("timed out after %s waiting for event %s: got %d events", wait, last, len(out))
		}
	}
}

// requireEnded drains sub until its channel closes (discarding events) and
// returns Err, failing if it does not end within wait.
func requireEnded(t testing.TB, sub eventstore.Subscription, wait time.Duration) error {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-sub.Events():
			if !ok {
				return sub.Err()
			}
		case <-timer.C:
			t.Fatalf("subscription did not end within %s", wait)
		}
	}
}

// cancelled returns a context that is already cancelled.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
