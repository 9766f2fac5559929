package eventstoretest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

func (s *suite) testInvalidEvents(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "iv")
	existing := p + "existing"
	seeded := events(1, 1)
	mustAppend(t, store, existing, eventstore.NoStream, seeded...)

	withID := func(ev eventstore.EventData, id uuid.UUID) eventstore.EventData { ev.ID = id; return ev }
	dup := event(2)
	cases := []struct {
		name   string
		events []eventstore.EventData
	}{
		{"EmptyBatch", nil},
		{"NilID", []eventstore.EventData{withID(event(2), uuid.Nil)}},
		{"DuplicateIDs", []eventstore.EventData{dup, withID(event(3), dup.ID)}},
		{"EmptyType", []eventstore.EventData{func() eventstore.EventData { ev := event(2); ev.Type = ""; return ev }()}},
		{"TypeTooLong", []eventstore.EventData{func() eventstore.EventData {
			ev := event(2)
			ev.Type = strings.Repeat("T", eventstore.MaxEventTypeBytes+1)
			return ev
		}()}},
		{"InvalidDataJSON", []eventstore.EventData{func() eventstore.EventData { ev := event(2); ev.Data = []byte(`{"a":`); return ev }()}},
		{"InvalidMetadataJSON", []eventstore.EventData{func() eventstore.EventData { ev := event(2); ev.Metadata = []byte(`not json`); return ev }()}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, target := range []struct {
				stream   string
				expected eventstore.ExpectedVersion
			}{
				{p + "new" + string(rune('a'+i)), eventstore.NoStream},
				{p + "any" + string(rune('a'+i)), eventstore.Any},
				{existing, eventstore.Exact(1)},
			} {
				_, err := store.Append(t.Context(), target.stream, target.expected, c.events...)
				if !errors.Is(err, eventstore.ErrInvalidEvent) {
					t.Errorf("append to %q: %v, want ErrInvalidEvent", target.stream, err)
				}
				if target.stream == existing {
					requireIDs(t, mustRead(t, store, existing, eventstore.ReadStreamOptions{}), seeded)
				} else {
					requireNotWritten(t, store, target.stream)
				}
			}
		})
	}
}

func (s *suite) testEventTooLarge(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "tl")
	limit := eventstore.DefaultMaxEventBytes

	// jsonOfSize returns a JSON string document of exactly n bytes.
	jsonOfSize := func(n int) []byte { return []byte(`"` + strings.Repeat("x", n-2) + `"`) }
	meta := []byte(`{"m":1}`)

	cases := []struct {
		name string
		ev   eventstore.EventData
		ok   bool
	}{
		{"DataOverLimit", eventstore.EventData{ID: uuid.New(), Type: "Big", Data: jsonOfSize(limit + 1)}, false},
		{"DataPlusMetadataOverLimit", eventstore.EventData{ID: uuid.New(), Type: "Big", Data: jsonOfSize(limit + 1 - len(meta)), Metadata: meta}, false},
		{"AtLimit", eventstore.EventData{ID: uuid.New(), Type: "Big", Data: jsonOfSize(limit - len(meta)), Metadata: meta}, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stream := p + string(rune('a'+i))
			_, err := store.Append(t.Context(), stream, eventstore.NoStream, c.ev)
			if c.ok {
				if err != nil {
					t.Fatalf("append event of exactly %d bytes: %v", limit, err)
				}
				got := mustRead(t, store, stream, eventstore.ReadStreamOptions{})
				if len(got) != 1 || len(got[0].Data) != len(c.ev.Data) {
					t.Fatalf("read back %d events, want 1 with %d data bytes", len(got), len(c.ev.Data))
				}
				return
			}
			if !errors.Is(err, eventstore.ErrEventTooLarge) {
				t.Fatalf("append event of %d bytes: %v, want ErrEventTooLarge", len(c.ev.Data)+len(c.ev.Metadata), err)
			}
			requireNotWritten(t, store, stream)
		})
	}
}

func (s *suite) testInvalidStreamNames(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "in")
	head := mustHead(t, store)
	cases := []struct {
		name   string
		stream string
		// check is a prefix under which nothing may have been written; empty
		// when no prefix can single the stream out.
		check string
	}{
		{"Empty", "", ""},
		{"System", "$" + p + "system", "$" + p},
		{"Space", p + "has space", p},
		{"Tab", p + "has\ttab", p},
		{"NonASCII", p + "caf\u00e9", p},
		{"TooLong", p + strings.Repeat("x", 300-len(p)), p},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := store.Append(t.Context(), c.stream, eventstore.Any, event(1))
			if !errors.Is(err, eventstore.ErrInvalidStreamName) {
				t.Errorf("append to %q: %v, want ErrInvalidStreamName", c.stream, err)
			}
			if c.check != "" {
				if got := readAllFrom(t, store, head, 0, c.check); len(got) != 0 {
					t.Errorf("append to %q was refused but wrote %d events", c.stream, len(got))
				}
			}
		})
	}
	// The longest legal name is accepted.
	longest := p + strings.Repeat("y", eventstore.MaxStreamNameBytes-len(p))
	mustAppend(t, store, longest, eventstore.NoStream, event(2))
	if got := mustRead(t, store, longest, eventstore.ReadStreamOptions{}); len(got) != 1 || got[0].StreamID != longest {
		t.Errorf("read back %d events from the longest legal stream name", len(got))
	}
}

func (s *suite) testAllOrNothing(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "an")
	existing := p + "existing"
	seeded := events(1, 2)
	mustAppend(t, store, existing, eventstore.NoStream, seeded...)

	bad := func(mutate func(*eventstore.EventData)) eventstore.EventData {
		ev := event(99)
		mutate(&ev)
		return ev
	}
	cases := []struct {
		name string
		last eventstore.EventData
		want error
	}{
		{"LaterNilID", bad(func(ev *eventstore.EventData) { ev.ID = uuid.Nil }), eventstore.ErrInvalidEvent},
		{"LaterInvalidJSON", bad(func(ev *eventstore.EventData) { ev.Data = []byte("{") }), eventstore.ErrInvalidEvent},
		{"LaterEmptyType", bad(func(ev *eventstore.EventData) { ev.Type = "" }), eventstore.ErrInvalidEvent},
		{"LaterTooLarge", bad(func(ev *eventstore.EventData) {
			ev.Data = []byte(`"` + strings.Repeat("x", eventstore.DefaultMaxEventBytes) + `"`)
		}), eventstore.ErrEventTooLarge},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			batch := append(events(10, 3), c.last)
			stream := p + "new" + string(rune('a'+i))
			if _, err := store.Append(t.Context(), stream, eventstore.NoStream, batch...); !errors.Is(err, c.want) {
				t.Errorf("append to new stream: %v, want %v", err, c.want)
			}
			requireNotWritten(t, store, stream)
			if _, err := store.Append(t.Context(), existing, eventstore.Exact(2), batch...); !errors.Is(err, c.want) {
				t.Errorf("append to existing stream: %v, want %v", err, c.want)
			}
			requireIDs(t, mustRead(t, store, existing, eventstore.ReadStreamOptions{}), seeded)
		})
	}
}

func (s *suite) testCancelledContext(t *testing.T) {
	store := s.newStore(t)
	p := prefix(t, "cc")
	head := mustHead(t, store)
	existing := p + "existing"
	seeded := events(1, 1)
	mustAppend(t, store, existing, eventstore.NoStream, seeded...)
	ctx := cancelled()

	if _, err := store.Append(ctx, p+"new", eventstore.NoStream, event(2)); !errors.Is(err, context.Canceled) {
		t.Errorf("append with a cancelled context: %v, want context.Canceled", err)
	}
	requireNotWritten(t, store, p+"new")
	if _, err := store.Append(ctx, existing, eventstore.Exact(1), event(3)); !errors.Is(err, context.Canceled) {
		t.Errorf("append to existing stream with a cancelled context: %v, want context.Canceled", err)
	}
	requireIDs(t, mustRead(t, store, existing, eventstore.ReadStreamOptions{}), seeded)

	if _, err := store.ReadStream(ctx, existing, eventstore.ReadStreamOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("read stream with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := store.ReadAll(ctx, eventstore.ReadAllOptions{After: head, StreamPrefixes: []string{p}}); !errors.Is(err, context.Canceled) {
		t.Errorf("read all with a cancelled context: %v, want context.Canceled", err)
	}
	if got := readAllFrom(t, store, head, 0, p); len(got) != 1 {
		t.Errorf("after cancelled appends the log holds %d events of this case, want 1", len(got))
	}
}
