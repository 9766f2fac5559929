package esdbtest_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/eventstore/esdb/esdbtest"
)

// These tests drive the server with the official client directly, to pin
// the protocol behaviour the adapter relies on.

func newClient(t *testing.T) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(esdbtest.Start(t))
	if err != nil {
		t.Fatalf("parse connection string: %v", err)
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func events(n int) []esdb.EventData {
	out := make([]esdb.EventData, n)
	for i := range out {
		out[i] = esdb.EventData{
			EventID:     uuid.New(),
			EventType:   "Tested",
			ContentType: esdb.ContentTypeJson,
			Data:        fmt.Appendf(nil, `{"n":%d}`, i),
			Metadata:    []byte(`{"m":true}`),
		}
	}
	return out
}

func readStream(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) ([]*esdb.RecordedEvent, error) {
	t.Helper()
	rs, err := c.ReadStream(t.Context(), stream, opts, count)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev.OriginalEvent())
	}
}

func readAll(t *testing.T, c *esdb.Client, opts esdb.ReadAllOptions, count uint64) []*esdb.RecordedEvent {
	t.Helper()
	rs, err := c.ReadAll(t.Context(), opts, count)
	if err != nil {
		t.Fatalf("read all: %v", err)
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read all: %v", err)
		}
		out = append(out, ev.OriginalEvent())
	}
}

func revisions(evs []*esdb.RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.EventNumber
	}
	return out
}

func TestAppendAndReadStream(t *testing.T) {
	c := newClient(t)
	written := events(3)
	before := time.Now().Add(-time.Second)
	res, err := c.AppendToStream(t.Context(), "order-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, written...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if res.NextExpectedVersion != 2 || res.CommitPosition == 0 || res.CommitPosition != res.PreparePosition {
		t.Fatalf("append result %+v, want revision 2 and commit == prepare > 0", res)
	}

	all, err := readStream(t, c, "order-1", esdb.ReadStreamOptions{}, 100)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(all) != 3 {
		t.Fatalf("read %d events, want 3", len(all))
	}
	for i, e := range all {
		if e.EventID != written[i].EventID || e.EventType != "Tested" || e.ContentType != "application/json" ||
			string(e.Data) != string(written[i].Data) || string(e.UserMetadata) != `{"m":true}` {
			t.Fatalf("event %d = %+v, want %+v", i, e, written[i])
		}
		if e.CreatedDate.Before(before) || e.CreatedDate.After(time.Now()) {
			t.Fatalf("event %d created %v, want about now", i, e.CreatedDate)
		}
		if e.Position.Commit != e.Position.Prepare || (i > 0 && e.Position.Commit <= all[i-1].Position.Commit) {
			t.Fatalf("event %d position %+v after %+v: want commit == prepare, strictly increasing", i, e.Position, all[max(i-1, 0)].Position)
		}
	}
	if all[2].Position.Commit != res.CommitPosition {
		t.Fatalf("append reported position %d, last event is at %d", res.CommitPosition, all[2].Position.Commit)
	}

	cases := []struct {
		name  string
		opts  esdb.ReadStreamOptions
		count uint64
		want  []uint64
	}{
		{"ForwardsFromRevision", esdb.ReadStreamOptions{From: esdb.Revision(1)}, 10, []uint64{1, 2}},
		{"ForwardsCount", esdb.ReadStreamOptions{From: esdb.Start{}}, 2, []uint64{0, 1}},
		{"ForwardsFromEnd", esdb.ReadStreamOptions{From: esdb.End{}}, 10, []uint64{}},
		{"ForwardsPastEnd", esdb.ReadStreamOptions{From: esdb.Revision(7)}, 10, []uint64{}},
		{"BackwardsFromEnd", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10, []uint64{2, 1, 0}},
		{"BackwardsFromRevision", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(1)}, 10, []uint64{1, 0}},
		{"BackwardsCount", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1, []uint64{2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readStream(t, c, "order-1", tc.opts, tc.count)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if fmt.Sprint(revisions(got)) != fmt.Sprint(tc.want) {
				t.Fatalf("revisions %v, want %v", revisions(got), tc.want)
			}
		})
	}
}

func TestReadMissingStream(t *testing.T) {
	c := newClient(t)
	_, err := readStream(t, c, "nobody-here", esdb.ReadStreamOptions{}, 10)
	var esErr *esdb.Error
	if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("read missing stream: %v, want ErrorCodeResourceNotFound", err)
	}
}

func TestWrongExpectedVersion(t *testing.T) {
	c := newClient(t)
	if _, err := c.AppendToStream(t.Context(), "cart-1", esdb.AppendToStreamOptions{}, events(3)...); err != nil {
		t.Fatalf("append: %v", err)
	}
	cases := []struct {
		name     string
		stream   string
		expected esdb.ExpectedRevision
		message  string
	}{
		{"NoStreamOnExisting", "cart-1", esdb.NoStream{}, "expecting 'no_stream' but got '2'"},
		{"StaleRevision", "cart-1", esdb.Revision(0), "expecting '0' but got '2'"},
		{"FutureRevision", "cart-1", esdb.Revision(5), "expecting '5' but got '2'"},
		{"StreamExistsOnMissing", "cart-2", esdb.StreamExists{}, "expecting 'stream_exists' but got 'no_stream'"},
		{"RevisionOnMissing", "cart-2", esdb.Revision(0), "expecting '0' but got 'no_stream'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.AppendToStream(t.Context(), tc.stream, esdb.AppendToStreamOptions{ExpectedRevision: tc.expected}, events(1)...)
			var esErr *esdb.Error
			if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeWrongExpectedVersion {
				t.Fatalf("append: %v, want ErrorCodeWrongExpectedVersion", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q does not contain %q", err, tc.message)
			}
		})
	}
}

func TestIdempotentAppend(t *testing.T) {
	c := newClient(t)
	batch := events(2)
	first, err := c.AppendToStream(t.Context(), "idem-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, batch...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	cases := []struct {
		name     string
		expected esdb.ExpectedRevision
		events   []esdb.EventData
		ok       bool
	}{
		{"SameNoStream", esdb.NoStream{}, batch, true},
		{"SameAny", esdb.Any{}, batch, true},
		{"SameStreamExists", esdb.StreamExists{}, batch, true},
		{"SuffixAny", esdb.Any{}, batch[1:], true},
		{"SuffixRevision", esdb.Revision(0), batch[1:], true},
		{"PartlyNewAny", esdb.Any{}, append([]esdb.EventData{batch[1]}, events(1)...), false},
		{"OtherIDsNoStream", esdb.NoStream{}, events(2), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.AppendToStream(t.Context(), "idem-1", esdb.AppendToStreamOptions{ExpectedRevision: tc.expected}, tc.events...)
			if !tc.ok {
				var esErr *esdb.Error
				if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeWrongExpectedVersion {
					t.Fatalf("append: %v, want ErrorCodeWrongExpectedVersion", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("idempotent append: %v", err)
			}
			// Like EventStoreDB, an idempotent write reports no position.
			if res.NextExpectedVersion != first.NextExpectedVersion || res.CommitPosition != 0 {
				t.Fatalf("idempotent result %+v, want revision %d and no position", res, first.NextExpectedVersion)
			}
		})
	}
	got, err := readStream(t, c, "idem-1", esdb.ReadStreamOptions{}, 100)
	if err != nil || len(got) != 2 {
		t.Fatalf("stream holds %d events (%v), want 2: re-appends must not duplicate", len(got), err)
	}
}

func TestReadAll(t *testing.T) {
	c := newClient(t)
	for i := range 3 {
		if _, err := c.AppendToStream(t.Context(), fmt.Sprintf("all-%d", i), esdb.AppendToStreamOptions{}, events(2)...); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	log := readAll(t, c, esdb.ReadAllOptions{}, 1000)
	if len(log) < 6 || !strings.HasPrefix(log[0].StreamID, "$") {
		t.Fatalf("log of %d events starting with %q, want system events first then 6 user events", len(log), log[0].StreamID)
	}
	for i := 1; i < len(log); i++ {
		if log[i].Position.Commit <= log[i-1].Position.Commit {
			t.Fatalf("positions not increasing at %d: %d after %d", i, log[i].Position.Commit, log[i-1].Position.Commit)
		}
	}
	users := log[len(log)-6:]

	from := users[2].Position
	fwd := readAll(t, c, esdb.ReadAllOptions{From: from}, 2)
	if len(fwd) != 2 || fwd[0].EventID != users[2].EventID || fwd[1].EventID != users[3].EventID {
		t.Fatalf("forwards from %v: got %d events, want users[2:4] (inclusive start)", from, len(fwd))
	}
	back := readAll(t, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: from}, 2)
	if len(back) != 2 || back[0].EventID != users[1].EventID || back[1].EventID != users[0].EventID {
		t.Fatalf("backwards from %v: got %d events, want users[1], users[0] (exclusive start)", from, len(back))
	}
	end := readAll(t, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if len(end) != 1 || end[0].EventID != users[5].EventID {
		t.Fatalf("backwards from end: want the last event")
	}
}

// recvEvent skips checkpoints and caught-up messages up to the next event.
func recvEvent(t *testing.T, sub *esdb.Subscription) *esdb.RecordedEvent {
	t.Helper()
	for {
		msg := sub.Recv()
		switch {
		case msg.EventAppeared != nil:
			return msg.EventAppeared.OriginalEvent()
		case msg.SubscriptionDropped != nil:
			t.Fatalf("subscription dropped: %v", msg.SubscriptionDropped.Error)
		}
	}
}

func TestSubscribeToStream(t *testing.T) {
	c := newClient(t)
	if _, err := c.AppendToStream(t.Context(), "sub-1", esdb.AppendToStreamOptions{}, events(2)...); err != nil {
		t.Fatalf("append: %v", err)
	}
	cases := []struct {
		name  string
		from  esdb.StreamPosition
		first uint64
	}{
		{"FromStart", esdb.Start{}, 0},
		{"FromRevisionIsExclusive", esdb.Revision(0), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := c.SubscribeToStream(t.Context(), "sub-1", esdb.SubscribeToStreamOptions{From: tc.from})
			if err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			defer func() { _ = sub.Close() }()
			for want := tc.first; want < 2; want++ {
				if got := recvEvent(t, sub).EventNumber; got != want {
					t.Fatalf("catch-up delivered revision %d, want %d", got, want)
				}
			}
			if msg := sub.Recv(); msg.CaughtUp == nil {
				t.Fatalf("after catch-up got %+v, want caught-up", msg)
			}
		})
	}

	sub, err := c.SubscribeToStream(t.Context(), "sub-1", esdb.SubscribeToStreamOptions{From: esdb.End{}})
	if err != nil {
		t.Fatalf("subscribe from end: %v", err)
	}
	defer func() { _ = sub.Close() }()
	live := events(1)
	if _, err := c.AppendToStream(t.Context(), "sub-1", esdb.AppendToStreamOptions{}, live...); err != nil {
		t.Fatalf("append: %v", err)
	}
	if got := recvEvent(t, sub); got.EventID != live[0].EventID || got.EventNumber != 2 {
		t.Fatalf("live event %s rev %d, want %s rev 2", got.EventID, got.EventNumber, live[0].EventID)
	}
}

func TestSubscribeToAllFiltered(t *testing.T) {
	c := newClient(t)
	if _, err := c.AppendToStream(t.Context(), "wanted-1", esdb.AppendToStreamOptions{}, events(1)...); err != nil {
		t.Fatalf("append: %v", err)
	}
	sub, err := c.SubscribeToAll(t.Context(), esdb.SubscribeToAllOptions{
		From:               esdb.Start{},
		Filter:             &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"wanted-"}},
		MaxSearchWindow:    2,
		CheckpointInterval: 1,
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer func() { _ = sub.Close() }()
	if got := recvEvent(t, sub); got.StreamID != "wanted-1" {
		t.Fatalf("first event from %q, want wanted-1", got.StreamID)
	}
	// Live: four unwanted events must produce checkpoints (every 2
	// considered events), then the wanted one arrives.
	for i := range 4 {
		if _, err := c.AppendToStream(t.Context(), fmt.Sprintf("other-%d", i), esdb.AppendToStreamOptions{}, events(1)...); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	last := events(1)
	res, err := c.AppendToStream(t.Context(), "wanted-2", esdb.AppendToStreamOptions{}, last...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	checkpoints := 0
	for {
		msg := sub.Recv()
		if msg.SubscriptionDropped != nil {
			t.Fatalf("dropped: %v", msg.SubscriptionDropped.Error)
		}
		if msg.CheckPointReached != nil {
			checkpoints++
			if msg.CheckPointReached.Commit > res.CommitPosition {
				t.Fatalf("checkpoint %d beyond the log end %d", msg.CheckPointReached.Commit, res.CommitPosition)
			}
		}
		if msg.EventAppeared != nil {
			if got := msg.EventAppeared.OriginalEvent(); got.EventID != last[0].EventID {
				t.Fatalf("live event from %q, want wanted-2", got.StreamID)
			}
			break
		}
	}
	if checkpoints == 0 {
		t.Fatalf("no checkpoint while filtering out 4 events with a window of 2")
	}
}

func TestSubscribeToAllFromPositionIsExclusive(t *testing.T) {
	c := newClient(t)
	res, err := c.AppendToStream(t.Context(), "pos-1", esdb.AppendToStreamOptions{}, events(3)...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	evs, err := readStream(t, c, "pos-1", esdb.ReadStreamOptions{}, 3)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	sub, err := c.SubscribeToAll(t.Context(), esdb.SubscribeToAllOptions{From: evs[0].Position})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer func() { _ = sub.Close() }()
	for _, want := range evs[1:] {
		if got := recvEvent(t, sub); got.EventID != want.EventID {
			t.Fatalf("got event rev %d, want rev %d", got.EventNumber, want.EventNumber)
		}
	}
	if evs[2].Position.Commit != res.CommitPosition {
		t.Fatalf("append position %d, last event at %d", res.CommitPosition, evs[2].Position.Commit)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	srv, err := esdbtest.NewServer()
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer srv.Close()
	cfg, err := esdb.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer func() { _ = c.Close() }()
	sub, err := c.SubscribeToAll(t.Context(), esdb.SubscribeToAllOptions{From: esdb.End{}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	dropped := make(chan error, 1)
	go func() {
		for {
			if msg := sub.Recv(); msg.SubscriptionDropped != nil {
				dropped <- msg.SubscriptionDropped.Error
				return
			}
		}
	}()
	srv.Close()
	select {
	case err := <-dropped:
		if err == nil {
			t.Fatalf("dropped without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("subscription still open 10 s after the server closed")
	}
}
