package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/eventstoretest"
	"github.com/palimpsest-cms/palimpsest/eventstore/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

// openStore opens a store on a fresh database that is dropped when t ends.
func openStore(t testing.TB, opts postgres.Options) *postgres.Store {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	s, err := postgres.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, func(t testing.TB) eventstore.Store {
		return openStore(t, postgres.Options{})
	})
}

func newEvent(t testing.TB, typ string) eventstore.EventData {
	t.Helper()
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(`{"n": 1}`), Metadata: []byte(`{"actor_id":"t"}`)}
}

func receiveOne(t testing.TB, sub eventstore.Subscription, wait time.Duration) eventstore.RecordedEvent {
	t.Helper()
	select {
	case e, ok := <-sub.Events():
		if !ok {
			t.Fatalf("subscription ended: %v", sub.Err())
		}
		return e
	case <-time.After(wait):
		t.Fatalf("no event within %s", wait)
	}
	return eventstore.RecordedEvent{}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    postgres.Options
		wantErr bool
	}{
		{"Zero", postgres.Options{}, false},
		{"Set", postgres.Options{Options: eventstore.Options{MaxEventBytes: 10}, PageSize: 10, SafetyInterval: time.Second}, false},
		{"NegativeMaxEventBytes", postgres.Options{Options: eventstore.Options{MaxEventBytes: -1}}, true},
		{"NegativePageSize", postgres.Options{PageSize: -1}, true},
		{"NegativeSafetyInterval", postgres.Options{SafetyInterval: -time.Second}, true},
		{"NegativeMaxBatchAppends", postgres.Options{MaxBatchAppends: -1}, true},
		{"NegativeMaxBatchBytes", postgres.Options{MaxBatchBytes: -1}, true},
		{"NoGroupCommitNoGather", postgres.Options{MaxBatchAppends: 1, GatherDelay: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.opts.Validate(); (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestMigrateIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- postgres.Migrate(ctx, pool)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	var head int64
	if err := pool.QueryRow(ctx, "SELECT position FROM es_head").Scan(&head); err != nil || head != 0 {
		t.Fatalf("es_head = %d, %v; want one row at 0", head, err)
	}
}

// TestMigrateSwitchesLogCompressionToLZ4: a log created before payloads were
// compressed with lz4 keeps its pglz values readable, and appends after
// Migrate use lz4.
func TestMigrateSwitchesLogCompressionToLZ4(t *testing.T) {
	t.Parallel()
	pool, dsn := pgtest.NewPool(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn, postgres.Options{}) // migrates
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	// As the schema was: the columns' default compression (pglz).
	if _, err := pool.Exec(ctx, `ALTER TABLE es_events ALTER COLUMN data SET COMPRESSION default,
		ALTER COLUMN metadata SET COMPRESSION default`); err != nil {
		t.Fatalf("reset compression: %v", err)
	}
	big := func(n int) []byte { // compressible, over PostgreSQL's ~2 kB threshold
		return fmt.Appendf(nil, `{"body":%q}`, strings.Repeat(fmt.Sprintf("paragraph %d of a long post. ", n), 200))
	}
	if _, err := s.Append(ctx, "post-old", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "Old", Data: big(1)}); err != nil {
		t.Fatalf("append before: %v", err)
	}
	if err := postgres.Migrate(ctx, pool); err != nil { // what the next start does
		t.Fatalf("Migrate again: %v", err)
	}
	if _, err := s.Append(ctx, "post-new", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "New", Data: big(2)}); err != nil {
		t.Fatalf("append after: %v", err)
	}
	rows, err := pool.Query(ctx, "SELECT stream_id, coalesce(pg_column_compression(data), '') FROM es_events ORDER BY position")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var stream, method string
		err := r.Scan(&stream, &method)
		return stream + "=" + method, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"post-old=pglz", "post-new=lz4"}; !slices.Equal(got, want) {
		t.Fatalf("compression of the payloads = %v, want %v", got, want)
	}
	for i, stream := range []string{"post-old", "post-new"} {
		evs, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
		if err != nil || len(evs) != 1 || !bytes.Equal(evs[0].Data, big(i+1)) {
			t.Fatalf("read %s back: %d events, %v; payload intact: %v", stream, len(evs), err, len(evs) == 1 && bytes.Equal(evs[0].Data, big(i+1)))
		}
	}
}

// TestNotifyAcrossStores proves that a subscriber is woken by NOTIFY from
// another process's append: its safety interval is far longer than the wait.
func TestNotifyAcrossStores(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	opts := postgres.Options{SafetyInterval: time.Hour}
	reader, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	writer, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()

	sub, err := reader.SubscribeAll(ctx, eventstore.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range 3 {
		e := newEvent(t, "Ping")
		if _, err := writer.Append(ctx, fmt.Sprintf("n-%d", i), eventstore.NoStream, e); err != nil {
			t.Fatal(err)
		}
		if got := receiveOne(t, sub, 5*time.Second); got.ID != e.ID {
			t.Fatalf("got event %s, want %s", got.ID, e.ID)
		}
	}
}

// TestListenerReconnects kills the listener's connection and checks that a
// subscriber still hears about appends from another store without waiting
// for its (hour-long) safety interval.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	opts := postgres.Options{SafetyInterval: time.Hour}
	reader, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	writer, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	sub, err := reader.SubscribeAll(ctx, eventstore.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	var killed int
	err = writer.Pool().QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&killed)
	if err != nil || killed != 2 {
		t.Fatalf("terminated %d listeners (%v), want 2", killed, err)
	}
	// The reconnect may race with this append; the reconnect's own wake-up
	// covers a NOTIFY sent while the listener was down.
	e := newEvent(t, "AfterReconnect")
	if _, err := writer.Append(ctx, "r-1", eventstore.NoStream, e); err != nil {
		t.Fatal(err)
	}
	if got := receiveOne(t, sub, 10*time.Second); got.ID != e.ID {
		t.Fatalf("got event %s, want %s", got.ID, e.ID)
	}
	// And the new listener hears later appends.
	e2 := newEvent(t, "Later")
	if _, err := writer.Append(ctx, "r-2", eventstore.NoStream, e2); err != nil {
		t.Fatal(err)
	}
	if got := receiveOne(t, sub, 5*time.Second); got.ID != e2.ID {
		t.Fatalf("got event %s, want %s", got.ID, e2.ID)
	}
}

func TestStreamPrefixLikeMetacharacters(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	ctx := context.Background()
	want := newEvent(t, "Match")
	for stream, e := range map[string]eventstore.EventData{
		`a_b%c\-1`: want,
		`axb%c\-1`: newEvent(t, "Other"),
		`a_bxc\-1`: newEvent(t, "Other"),
		`a_b%cx-1`: newEvent(t, "Other"),
	} {
		if _, err := s.Append(ctx, stream, eventstore.NoStream, e); err != nil {
			t.Fatal(err)
		}
	}
	prefixes := []string{`a_b%c\`}
	got, err := s.ReadAll(ctx, eventstore.ReadAllOptions{StreamPrefixes: prefixes})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != want.ID {
		t.Fatalf("ReadAll(%q) = %d events, want only %s", prefixes, len(got), want.ID)
	}
	sub, err := s.SubscribeAll(ctx, eventstore.SubscribeOptions{StreamPrefixes: prefixes})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if e := receiveOne(t, sub, 5*time.Second); e.ID != want.ID {
		t.Fatalf("subscription delivered %s (%s), want %s", e.ID, e.StreamID, want.ID)
	}
}

func TestEventIDUsedInAnotherStream(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	ctx := context.Background()
	e := newEvent(t, "Once")
	if _, err := s.Append(ctx, "first-1", eventstore.NoStream, e); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, "second-1", eventstore.NoStream, e)
	if !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("append of a used ID to another stream: %v, want ErrInvalidEvent", err)
	}
	if _, err := s.ReadStream(ctx, "second-1", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("second-1 was written: %v", err)
	}
}

// TestIdempotentRace appends the same events concurrently with Any: one
// writes, the others hit the unique event_id and must report the same result.
func TestIdempotentRace(t *testing.T) {
	t.Parallel()
	s := openStore(t, postgres.Options{})
	ctx := context.Background()
	for round := range 5 {
		stream := fmt.Sprintf("race-%d", round)
		evs := []eventstore.EventData{newEvent(t, "A"), newEvent(t, "B")}
		results := make([]eventstore.AppendResult, 8)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = s.Append(ctx, stream, eventstore.Any, evs...)
			}()
		}
		wg.Wait()
		for i := range results {
			if errs[i] != nil {
				t.Fatalf("append %d: %v", i, errs[i])
			}
			if results[i] != results[0] {
				t.Fatalf("append %d = %+v, want %+v", i, results[i], results[0])
			}
		}
		got, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
		if err != nil || len(got) != 2 {
			t.Fatalf("stream has %d events (%v), want 2", len(got), err)
		}
	}
}

func TestNewKeepsCallersPool(t *testing.T) {
	t.Parallel()
	pool, dsn := pgtest.NewPool(t)
	ctx := context.Background()
	s, err := postgres.New(ctx, pool, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "keep-1", eventstore.NoStream, newEvent(t, "E")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Head after Close: %v, want ErrClosed", err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM es_events").Scan(&n); err != nil || n != 1 {
		t.Fatalf("caller's pool after Close: count %d, %v", n, err)
	}
}
