package esdb_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/esdb"
	"github.com/palimpsest-cms/palimpsest/eventstore/esdb/esdbtest"
)

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		opts esdb.Options
		ok   bool
	}{
		{"Zero", esdb.Options{}, true},
		{"Limits", esdb.Options{Options: eventstore.Options{MaxEventBytes: 4096}, ReadPageSize: 50}, true},
		{"NegativeMaxEventBytes", esdb.Options{Options: eventstore.Options{MaxEventBytes: -1}}, false},
		{"NegativePageSize", esdb.Options{ReadPageSize: -1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.opts.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestOpenFails(t *testing.T) {
	cases := []struct {
		name       string
		connString string
	}{
		{"BadScheme", "http://127.0.0.1:2113"},
		{"NothingListening", "esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1&discoveryInterval=10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := esdb.Open(t.Context(), tc.connString, esdb.Options{})
			if err == nil {
				_ = s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.connString)
			}
		})
	}
}

func openStore(t *testing.T) (*esdb.Store, *esdbclient.Client) {
	t.Helper()
	conn := esdbtest.Start(t)
	s, err := esdb.Open(t.Context(), conn, esdb.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	cfg, err := esdbclient.ParseConnectionString(conn)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	cfg.Logger = esdbclient.NoopLogging()
	raw, err := esdbclient.NewClient(cfg)
	if err != nil {
		t.Fatalf("raw client: %v", err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return s, raw
}

func userEvent() eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "Tested", Data: []byte(`{"ok":true}`), Metadata: []byte(`{"actor_id":"a"}`)}
}

// writeSystemEvent appends to a '$' stream, as the server itself does all
// the time (stats, stream metadata, projections).
func writeSystemEvent(t *testing.T, raw *esdbclient.Client) {
	t.Helper()
	meta := esdbclient.StreamMetadata{}
	meta.SetMaxAge(time.Hour)
	if _, err := raw.SetStreamMetadata(t.Context(), "post-"+uuid.NewString(), esdbclient.AppendToStreamOptions{}, meta); err != nil {
		t.Fatalf("write system event: %v", err)
	}
}

func TestSystemEventsAreHidden(t *testing.T) {
	s, raw := openStore(t)
	res, err := s.Append(t.Context(), "post-a", eventstore.NoStream, userEvent())
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	writeSystemEvent(t, raw)

	head, err := s.Head(t.Context())
	if err != nil || head != res.Position {
		t.Fatalf("Head() = %d, %v; want %d, the last non-system event", head, err, res.Position)
	}
	all, err := s.ReadAll(t.Context(), eventstore.ReadAllOptions{})
	if err != nil {
		t.Fatalf("read all: %v", err)
	}
	if len(all) != 1 || all[0].StreamID != "post-a" || all[0].Position != res.Position || all[0].Version != 1 {
		t.Fatalf("ReadAll = %+v, want only post-a's event", all)
	}

	sub, err := s.SubscribeAll(t.Context(), eventstore.SubscribeOptions{})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer func() { _ = sub.Close() }()
	writeSystemEvent(t, raw)
	second, err := s.Append(t.Context(), "post-b", eventstore.NoStream, userEvent())
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	for _, want := range []eventstore.Position{res.Position, second.Position} {
		select {
		case ev := <-sub.Events():
			if ev.Position != want || strings.HasPrefix(ev.StreamID, "$") {
				t.Fatalf("delivered %s at %d, want the user event at %d", ev.StreamID, ev.Position, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event at %d within 10 s", want)
		}
	}
}

func TestWrongExpectedVersionReportsActual(t *testing.T) {
	s, _ := openStore(t)
	if _, err := s.Append(t.Context(), "post-w", eventstore.NoStream, userEvent(), userEvent()); err != nil {
		t.Fatalf("append: %v", err)
	}
	cases := []struct {
		name     string
		stream   string
		expected eventstore.ExpectedVersion
		actual   uint64
	}{
		{"NoStreamOnExisting", "post-w", eventstore.NoStream, 2},
		{"Stale", "post-w", eventstore.Exact(1), 2},
		{"StreamExistsOnMissing", "post-none", eventstore.StreamExists, 0},
		{"ExactOnMissing", "post-none", eventstore.Exact(3), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(t.Context(), tc.stream, tc.expected, userEvent())
			var wev *eventstore.WrongExpectedVersionError
			if !errors.As(err, &wev) || !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
				t.Fatalf("append: %v, want *WrongExpectedVersionError", err)
			}
			if !wev.ActualKnown || wev.Actual != tc.actual || wev.Expected != tc.expected || wev.Stream != tc.stream {
				t.Fatalf("got %+v, want stream %q expected %s actual %d (known)", wev, tc.stream, tc.expected, tc.actual)
			}
		})
	}
}

func TestIdempotentAppendReportsOriginalPosition(t *testing.T) {
	s, _ := openStore(t)
	batch := []eventstore.EventData{userEvent(), userEvent()}
	first, err := s.Append(t.Context(), "post-i", eventstore.NoStream, batch...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if _, err := s.Append(t.Context(), "post-other", eventstore.NoStream, userEvent()); err != nil {
		t.Fatalf("append: %v", err)
	}
	for _, expected := range []eventstore.ExpectedVersion{eventstore.NoStream, eventstore.Any} {
		again, err := s.Append(t.Context(), "post-i", expected, batch...)
		if err != nil {
			t.Fatalf("re-append at %s: %v", expected, err)
		}
		if again != first {
			t.Fatalf("re-append at %s = %+v, want the original %+v", expected, again, first)
		}
	}
}

func TestServerGoneEndsSubscription(t *testing.T) {
	srv, err := esdbtest.NewServer()
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	defer srv.Close()
	s, err := esdb.Open(t.Context(), srv.ConnectionString(), esdb.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() { _ = s.Close() }()
	sub, err := s.SubscribeAll(t.Context(), eventstore.SubscribeOptions{})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer func() { _ = sub.Close() }()
	srv.Close()
	select {
	case _, ok := <-sub.Events():
		if ok {
			t.Fatalf("event delivered from an empty log")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("subscription still open 10 s after the server went away")
	}
	if err := sub.Err(); err == nil || errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Err() = %v, want a dropped-subscription failure", err)
	}
}
