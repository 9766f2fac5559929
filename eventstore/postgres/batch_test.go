package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/postgres"
)

// holdHead takes the es_head row lock in a transaction of its own, so the
// store's next batch blocks on it while further appends queue up behind it.
// The returned function releases the lock.
func holdHead(t *testing.T, s *postgres.Store) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.Exec(ctx, "SELECT position FROM es_head FOR UPDATE"); err != nil {
		t.Fatalf("lock es_head: %v", err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	t.Cleanup(release)
	return release
}

// waitQueued waits until n appends are queued behind the blocked batch.
func waitQueued(t *testing.T, s *postgres.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.QueueLen() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", s.QueueLen(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitBlocked waits until the store's batch statement waits for a lock
// (the es_head row lock holdHead took).
func waitBlocked(t *testing.T, s *postgres.Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%es_append_batch(%'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no batch blocked on es_head")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type appendCall struct {
	stream   string
	expected eventstore.ExpectedVersion
	events   []eventstore.EventData
	ctx      context.Context
}

type appendReturn struct {
	res eventstore.AppendResult
	err error
}

// appendQueued starts the calls one after another, each queued before the
// next starts (so their order in the batch is known), behind a batch that
// is blocked on es_head; then it releases es_head and returns the results.
func appendQueued(t *testing.T, s *postgres.Store, calls []appendCall) []appendReturn {
	t.Helper()
	release := holdHead(t, s)
	blocker := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "blocker-"+uuid.NewString(), eventstore.Any, newEvent(t, "Blocker"))
		blocker <- err
	}()
	waitBlocked(t, s)
	out := make([]appendReturn, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		ctx := c.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		go func() {
			defer wg.Done()
			out[i].res, out[i].err = s.Append(ctx, c.stream, c.expected, c.events...)
		}()
		waitQueued(t, s, i+1)
	}
	release()
	if err := <-blocker; err != nil {
		t.Fatalf("blocker append: %v", err)
	}
	wg.Wait()
	return out
}

// recordedAt returns the recorded_at of the event with id: equal values mean
// one transaction (now() is the transaction's start).
func recordedAt(t *testing.T, s *postgres.Store, id uuid.UUID) time.Time {
	t.Helper()
	var at time.Time
	if err := s.Pool().QueryRow(context.Background(), "SELECT recorded_at FROM es_events WHERE event_id = $1", id).Scan(&at); err != nil {
		t.Fatalf("recorded_at of %s: %v", id, err)
	}
	return at
}

func TestBatchIndependentOutcomes(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	ctx := context.Background()
	stored := newEvent(t, "Stored")
	first, err := s.Append(ctx, "existing", eventstore.NoStream, stored)
	if err != nil {
		t.Fatal(err)
	}
	stored2 := newEvent(t, "Stored")
	if _, err := s.Append(ctx, "existing-2", eventstore.NoStream, stored2); err != nil {
		t.Fatal(err)
	}
	ok1, ok2, ok3 := newEvent(t, "Ok"), newEvent(t, "Ok"), newEvent(t, "Ok")
	calls := []appendCall{
		{stream: "ok-1", expected: eventstore.NoStream, events: []eventstore.EventData{ok1}},
		{stream: "existing", expected: eventstore.Exact(5), events: []eventstore.EventData{newEvent(t, "Stale")}},
		{stream: "ok-2", expected: eventstore.Any, events: []eventstore.EventData{ok2}},
		{stream: "existing", expected: eventstore.NoStream, events: []eventstore.EventData{stored}}, // idempotent
		{stream: "other", expected: eventstore.Any, events: []eventstore.EventData{stored2}},        // ID of another stream
		{stream: "existing", expected: eventstore.NoStream, events: []eventstore.EventData{newEvent(t, "Late")}},
		{stream: "existing", expected: eventstore.Exact(1), events: []eventstore.EventData{ok3}},
	}
	out := appendQueued(t, s, calls)

	tests := []struct {
		name     string
		i        int
		wantErr  error
		wantNext uint64
	}{
		{"NewStream", 0, nil, 1},
		{"WrongExact", 1, eventstore.ErrWrongExpectedVersion, 0},
		{"AnyNewStream", 2, nil, 1},
		{"Idempotent", 3, nil, 1},
		{"IDInOtherStream", 4, eventstore.ErrInvalidEvent, 0},
		{"NoStreamButExists", 5, eventstore.ErrWrongExpectedVersion, 0},
		{"ExactOK", 6, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := out[tt.i]
			if tt.wantErr != nil {
				if !errors.Is(got.err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", got.err, tt.wantErr)
				}
				return
			}
			if got.err != nil {
				t.Fatalf("err = %v", got.err)
			}
			if got.res.NextVersion != tt.wantNext {
				t.Errorf("NextVersion = %d, want %d", got.res.NextVersion, tt.wantNext)
			}
		})
	}
	if out[3].res != first {
		t.Errorf("idempotent re-append = %+v, want the original %+v", out[3].res, first)
	}
	var wrong *eventstore.WrongExpectedVersionError
	if errors.As(out[1].err, &wrong) && (!wrong.ActualKnown || wrong.Actual != 1) {
		t.Errorf("wrong version error reports actual %d (known %v), want 1", wrong.Actual, wrong.ActualKnown)
	}
	// The successful appends committed together, at consecutive positions.
	at := recordedAt(t, s, ok1.ID)
	for _, e := range []eventstore.EventData{ok2, ok3} {
		if got := recordedAt(t, s, e.ID); !got.Equal(at) {
			t.Errorf("event %s recorded at %v, want %v (same transaction)", e.ID, got, at)
		}
	}
	p := out[0].res.Position
	if out[2].res.Position != p+1 || out[6].res.Position != p+2 {
		t.Errorf("positions %d, %d, %d, want consecutive", p, out[2].res.Position, out[6].res.Position)
	}
	all, err := s.ReadAll(ctx, eventstore.ReadAllOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range all {
		if e.Position != eventstore.Position(i+1) {
			t.Fatalf("event %d at position %d: log not dense", i, e.Position)
		}
	}
	if len(all) != 6 { // stored, stored2, blocker, ok1, ok2, ok3
		t.Errorf("log has %d events, want 6", len(all))
	}
}

func TestBatchSameStreamConsecutive(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	a, b, c := newEvent(t, "A"), newEvent(t, "B"), newEvent(t, "C")
	d := newEvent(t, "D")
	out := appendQueued(t, s, []appendCall{
		{stream: "s", expected: eventstore.NoStream, events: []eventstore.EventData{a}},
		{stream: "s", expected: eventstore.Exact(1), events: []eventstore.EventData{b, c}},
		{stream: "s", expected: eventstore.StreamExists, events: []eventstore.EventData{d}},
		{stream: "s", expected: eventstore.Exact(1), events: []eventstore.EventData{newEvent(t, "Loser")}},
	})
	for i, want := range []uint64{1, 3, 4} {
		if out[i].err != nil || out[i].res.NextVersion != want {
			t.Errorf("append %d = %+v, %v; want NextVersion %d", i, out[i].res, out[i].err, want)
		}
	}
	if !errors.Is(out[3].err, eventstore.ErrWrongExpectedVersion) {
		t.Errorf("stale append: %v, want ErrWrongExpectedVersion", out[3].err)
	}
	if !recordedAt(t, s, a.ID).Equal(recordedAt(t, s, d.ID)) {
		t.Errorf("appends were not committed in one transaction")
	}
	events, err := s.ReadStream(context.Background(), "s", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []uuid.UUID{a.ID, b.ID, c.ID, d.ID}
	if len(events) != len(want) {
		t.Fatalf("stream has %d events, want %d", len(events), len(want))
	}
	for i, e := range events {
		if e.ID != want[i] || e.Version != uint64(i+1) || (i > 0 && e.Position != events[i-1].Position+1) {
			t.Errorf("event %d = %s v%d @%d", i, e.ID, e.Version, e.Position)
		}
	}
}

func TestBatchRepeatedIDGoesToNextBatch(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	e := newEvent(t, "Twice")
	out := appendQueued(t, s, []appendCall{
		{stream: "s", expected: eventstore.Exact(0), events: []eventstore.EventData{e}},
		{stream: "s", expected: eventstore.NoStream, events: []eventstore.EventData{e}},
		{stream: "t", expected: eventstore.Any, events: []eventstore.EventData{e}},
	})
	if out[0].err != nil || out[1].err != nil || out[0].res != out[1].res {
		t.Errorf("same append twice: %+v %v / %+v %v, want the same result", out[0].res, out[0].err, out[1].res, out[1].err)
	}
	if !errors.Is(out[2].err, eventstore.ErrInvalidEvent) {
		t.Errorf("ID reused in another stream: %v, want ErrInvalidEvent", out[2].err)
	}
}

func TestBatchFailureFallsBackToSingleAppends(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	good1, good2 := newEvent(t, "Good"), newEvent(t, "Good")
	bad := newEvent(t, "Bad\x00Type") // PostgreSQL text cannot hold NUL: the batch statement fails
	out := appendQueued(t, s, []appendCall{
		{stream: "good-1", expected: eventstore.NoStream, events: []eventstore.EventData{good1}},
		{stream: "bad", expected: eventstore.NoStream, events: []eventstore.EventData{bad}},
		{stream: "good-2", expected: eventstore.NoStream, events: []eventstore.EventData{good2}},
	})
	if out[0].err != nil || out[2].err != nil {
		t.Fatalf("good appends failed: %v, %v", out[0].err, out[2].err)
	}
	if out[1].err == nil {
		t.Fatalf("bad append succeeded")
	}
	if _, err := s.ReadStream(context.Background(), "bad", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Errorf("read bad stream: %v, want ErrStreamNotFound", err)
	}
}

func TestCancelWhileQueuedWritesNothing(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	release := holdHead(t, s)
	blocker := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "blocker", eventstore.Any, newEvent(t, "Blocker"))
		blocker <- err
	}()
	waitBlocked(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "cancelled", eventstore.NoStream, newEvent(t, "Cancelled"))
		done <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled append: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled append did not return while its batch was blocked")
	}
	release()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	// A later append still works, and the withdrawn one was never written.
	if _, err := s.Append(context.Background(), "after", eventstore.NoStream, newEvent(t, "After")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadStream(context.Background(), "cancelled", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Errorf("read cancelled stream: %v, want ErrStreamNotFound", err)
	}
}

func TestCloseFailsQueuedAppends(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	release := holdHead(t, s)
	blocker := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "blocker", eventstore.Any, newEvent(t, "Blocker"))
		blocker <- err
	}()
	waitBlocked(t, s)
	queued := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "queued", eventstore.NoStream, newEvent(t, "Queued"))
		queued <- err
	}()
	waitQueued(t, s, 1)
	closed := make(chan struct{})
	go func() { _ = s.Close(); close(closed) }()
	time.Sleep(50 * time.Millisecond)
	release()
	<-closed
	if err := <-blocker; err != nil {
		t.Errorf("append in the running batch: %v, want success", err)
	}
	if err := <-queued; !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("queued append: %v, want ErrClosed", err)
	}
	if _, err := s.Append(context.Background(), "later", eventstore.NoStream, newEvent(t, "Later")); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("append after Close: %v, want ErrClosed", err)
	}
}

// TestBatchManyWriters appends from many goroutines, each to its own stream
// at exact versions plus all to one shared stream with Any, and checks that
// versions and positions come out dense and in order.
func TestBatchManyWriters(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{MaxBatchAppends: 16})
	ctx := context.Background()
	const writers, perWriter = 40, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("writer-%d", w)
			for i := range perWriter {
				res, err := s.Append(ctx, stream, eventstore.Exact(uint64(i)), newEvent(t, "Own"))
				if err != nil {
					errs <- fmt.Errorf("%s at %d: %w", stream, i, err)
					return
				}
				if res.NextVersion != uint64(i+1) {
					errs <- fmt.Errorf("%s: NextVersion %d, want %d", stream, res.NextVersion, i+1)
					return
				}
				if _, err := s.Append(ctx, "shared", eventstore.Any, newEvent(t, "Shared")); err != nil {
					errs <- fmt.Errorf("shared: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	const total = 2 * writers * perWriter
	var all []eventstore.RecordedEvent
	for after := eventstore.Position(0); ; {
		page, err := s.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Position
	}
	if len(all) != total {
		t.Fatalf("log has %d events, want %d", len(all), total)
	}
	versions := map[string]uint64{}
	batches := map[time.Time]bool{}
	for i, e := range all {
		if e.Position != eventstore.Position(i+1) {
			t.Fatalf("event %d at position %d", i, e.Position)
		}
		versions[e.StreamID]++
		if e.Version != versions[e.StreamID] {
			t.Fatalf("%s: version %d at position %d, want %d", e.StreamID, e.Version, e.Position, versions[e.StreamID])
		}
		batches[e.RecordedAt] = true
	}
	if versions["shared"] != writers*perWriter {
		t.Errorf("shared stream has %d events, want %d", versions["shared"], writers*perWriter)
	}
	t.Logf("%d appends in %d transactions", total, len(batches))
	if len(batches) >= total {
		t.Errorf("no append was group-committed (%d transactions for %d appends)", len(batches), total)
	}
}

func TestBackgroundAnalyze(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	ctx := context.Background()
	if got := s.AnalyzeThreshold(); got != 1000 {
		t.Fatalf("threshold of an empty store = %d, want 1000", got)
	}
	appendN := func(stream string, n int) {
		t.Helper()
		events := make([]eventstore.EventData, n)
		for i := range events {
			events[i] = newEvent(t, "Bulk")
		}
		if _, err := s.Append(ctx, stream, eventstore.Any, events...); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 9 {
		appendN(fmt.Sprintf("bulk-%d", i), 100)
	}
	time.Sleep(100 * time.Millisecond)
	if got := s.AnalyzeRuns(); got != 0 {
		t.Fatalf("ANALYZE ran %d times below the threshold", got)
	}
	appendN("bulk-last", 200) // 1,100 events: past the threshold
	deadline := time.Now().Add(30 * time.Second)
	for s.AnalyzeRuns() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no background ANALYZE after 1,100 appended events")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var events, streams float64
	err := s.Pool().QueryRow(ctx, `SELECT (SELECT reltuples FROM pg_class WHERE oid = 'es_events'::regclass),
		(SELECT reltuples FROM pg_class WHERE oid = 'es_streams'::regclass)`).Scan(&events, &streams)
	if err != nil {
		t.Fatal(err)
	}
	if events != 1100 || streams != 10 {
		t.Errorf("statistics after ANALYZE: %v events, %v streams; want 1100, 10", events, streams)
	}
	if got := s.AnalyzeThreshold(); got != 1000 {
		t.Errorf("threshold at 1,100 rows = %d, want 1000", got)
	}
}

// TestAppendPlansIgnoreStaleStatistics checks that es_append_batch keeps
// using the indexes after the log grew, without ANALYZE, far beyond the
// size its statements were first planned for on the same connection.
// auto_explain reports the nested statements' plans as notices.
func TestAppendPlansIgnoreStaleStatistics(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	ctx := context.Background()
	var mu sync.Mutex
	var notices []string
	config := s.Pool().Config().ConnConfig.Copy()
	config.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n.Message)
		mu.Unlock()
	}
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const appendSQL = `SELECT o_status FROM es_append_batch($1, ARRAY[0, 3]::smallint[], ARRAY[0, 0]::bigint[], ARRAY[1, 1],
		$2, ARRAY['T', 'T'], ARRAY[NULL, NULL]::json[], ARRAY[NULL, NULL]::json[])`
	appendTwo := func(ids []uuid.UUID) {
		t.Helper()
		streams := []string{"s-" + uuid.NewString(), "x-" + uuid.NewString()}
		rows, err := conn.Query(ctx, appendSQL, streams, ids)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Plan (and cache) while the tables are tiny and never analyzed.
	for range 10 {
		appendTwo([]uuid.UUID{uuid.New(), uuid.New()})
	}
	seed := `
		WITH h AS (SELECT position FROM es_head)
		INSERT INTO es_events (position, event_id, stream_id, version, type, recorded_at)
		SELECT h.position + g, gen_random_uuid(), 'seed-' || g, 1, 'Seed', now() FROM h, generate_series(1, 100000) g;
		INSERT INTO es_streams (stream_id, version) SELECT 'seed-' || g, 1 FROM generate_series(1, 100000) g;
		UPDATE es_head SET position = position + 100000;`
	if _, err := s.Pool().Exec(ctx, seed); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
		"SET auto_explain.log_nested_statements = on", "SET auto_explain.log_level = notice"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var existing uuid.UUID
	if err := s.Pool().QueryRow(ctx, "SELECT event_id FROM es_events WHERE position = 50000").Scan(&existing); err != nil {
		t.Fatal(err)
	}
	appendTwo([]uuid.UUID{uuid.New(), existing}) // the existing ID makes it run es_existing too
	mu.Lock()
	defer mu.Unlock()
	var plans strings.Builder
	for _, n := range notices {
		plans.WriteString(n)
		plans.WriteString("\n")
	}
	text := plans.String()
	for _, bad := range []string{"Seq Scan on es_events", "Seq Scan on es_streams"} {
		if strings.Contains(text, bad) {
			t.Errorf("plan uses %q after the tables grew:\n%s", bad, text)
		}
	}
	if !strings.Contains(text, "es_events_event_id_key") {
		t.Errorf("no plan used the event ID index:\n%s", text)
	}
}
