package postgres_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

// The benchmarks run against a fresh database each and are not part of CI:
//
//	go test -run '^$' -bench . -benchtime 20000x ./eventstore/postgres/
//
// See docs/BENCHMARKS.md ("Event store (PostgreSQL)") for figures and the
// pgbench comparison.

var liveRate = flag.Int("live-rate", 500, "appends per second in BenchmarkLiveLatency")

var benchData = []byte(`{"post_id":"0b5e3c9e-7d1a-4c1e-9a51-3f0f0d0a1b2c","title":"A benchmark post","body":"Some *Markdown* body text that is about as long as a short edit note or excerpt would be.","tags":["bench","go"]}`)
var benchMeta = []byte(`{"actor_id":"7f1d7a4e-0000-4000-8000-000000000001","actor_role":"author","correlation_id":"req-1","occurred_at":"2026-01-01T00:00:00Z","schema":1}`)

// BenchmarkAppend8Writers measures single-event appends to distinct new
// streams (expected version NoStream) from 8 goroutines, with group commit
// (the default), with group commit but without the gather delay, and
// without group commit (MaxBatchAppends 1: one transaction per append, the
// baseline).
func BenchmarkAppend8Writers(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts postgres.Options
	}{
		{"GroupCommit", postgres.Options{}},
		{"GroupCommitNoGather", postgres.Options{GatherDelay: -1}},
		{"NoGroupCommit", postgres.Options{MaxBatchAppends: 1}},
	} {
		b.Run(bc.name, func(b *testing.B) { appendWriters(b, bc.opts, 8) })
	}
}

func appendWriters(b *testing.B, opts postgres.Options, writers int) {
	s := openStore(b, opts)
	ctx := context.Background()
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				e := eventstore.EventData{ID: uuid.New(), Type: "BenchEvent", Data: benchData, Metadata: benchMeta}
				if _, err := s.Append(ctx, fmt.Sprintf("bench-%d", i), eventstore.NoStream, e); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(b.N)/float64(max(s.Batches(), 1)), "appends/batch")
}

// seedEvents writes n events over 1,000 streams directly with SQL, which is
// much faster than appending them and gives the same rows.
func seedEvents(b *testing.B, dsn string, n int) {
	b.Helper()
	pool, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	ctx := context.Background()
	_, err = pool.Pool().Exec(ctx, `
		INSERT INTO es_events (position, event_id, stream_id, version, type, data, metadata, recorded_at)
		SELECT g, gen_random_uuid(), 'seed-' || ((g - 1) % 1000), (g - 1) / 1000 + 1, 'BenchEvent', $2::json, $3::json, now()
		  FROM generate_series(1, $1::bigint) AS g;
		`, n, string(benchData), string(benchMeta))
	if err != nil {
		b.Fatal(err)
	}
	_, err = pool.Pool().Exec(ctx, `
		INSERT INTO es_streams (stream_id, version)
		SELECT stream_id, max(version) FROM es_events GROUP BY stream_id;
		`)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Pool().Exec(ctx, `UPDATE es_head SET position = $1`, n); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Pool().Exec(ctx, `VACUUM ANALYZE es_events`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCatchUp100k measures reading 100,000 stored events through a
// subscription from the start of the log, per iteration.
func BenchmarkCatchUp100k(b *testing.B) {
	const n = 100_000
	dsn := pgtest.NewDatabase(b)
	seedEvents(b, dsn, n)
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		sub, err := s.SubscribeAll(context.Background(), eventstore.SubscribeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var last eventstore.Position
		for got := 0; got < n; got++ {
			select {
			case e, ok := <-sub.Events():
				if !ok {
					b.Fatalf("subscription ended after %d events: %v", got, sub.Err())
				}
				if e.Position <= last {
					b.Fatalf("position %d after %d", e.Position, last)
				}
				last = e.Position
			case <-time.After(30 * time.Second):
				b.Fatalf("stalled after %d events", got)
			}
		}
		_ = sub.Close()
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkLiveLatency measures the time from the start of an Append to the
// delivery of its event to a live subscriber, with appends at 500/s (flag
// -live-rate). b.N is the number of appends. SameStore subscribes on the appending Store (woken
// directly); OtherStore subscribes on a second Store, as another process
// would, and is woken by NOTIFY over its listener connection.
func BenchmarkLiveLatency(b *testing.B) {
	for _, mode := range []string{"SameStore", "OtherStore"} {
		b.Run(mode, func(b *testing.B) {
			dsn := pgtest.NewDatabase(b)
			ctx := context.Background()
			writer, err := postgres.Open(ctx, dsn, postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer writer.Close()
			reader := writer
			if mode == "OtherStore" {
				if reader, err = postgres.Open(ctx, dsn, postgres.Options{}); err != nil {
					b.Fatal(err)
				}
				defer reader.Close()
			}
			liveLatency(b, writer, reader, *liveRate)
		})
	}
}

func liveLatency(b *testing.B, writer, reader eventstore.Store, rate int) {
	ctx := context.Background()
	sub, err := reader.SubscribeAll(ctx, eventstore.SubscribeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()

	var mu sync.Mutex
	sent := make(map[uuid.UUID]time.Time, b.N)
	latencies := make([]time.Duration, 0, b.N)
	received := make(chan struct{})
	go func() {
		defer close(received)
		for e := range sub.Events() {
			now := time.Now()
			mu.Lock()
			latencies = append(latencies, now.Sub(sent[e.ID]))
			done := len(latencies) == b.N
			mu.Unlock()
			if done {
				return
			}
		}
	}()

	b.ResetTimer()
	ticker := time.NewTicker(time.Second / time.Duration(rate))
	defer ticker.Stop()
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := range b.N {
		<-ticker.C
		e := eventstore.EventData{ID: uuid.New(), Type: "BenchEvent", Data: benchData, Metadata: benchMeta}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			sent[e.ID] = time.Now()
			mu.Unlock()
			if _, err := writer.Append(ctx, fmt.Sprintf("live-%d", i), eventstore.NoStream, e); err != nil {
				failed.Store(err)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	select {
	case <-received:
	case <-time.After(30 * time.Second):
		mu.Lock()
		n := len(latencies)
		mu.Unlock()
		b.Fatalf("received %d of %d events", n, b.N)
	}
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// BenchmarkReadAllPages100k measures reading 100,000 stored events with
// ReadAll in pages of 1,000, without a subscription: the database and
// decoding cost alone, per iteration; with the store's row decoder and,
// as the baseline, with pgx's generic Scan.
func BenchmarkReadAllPages100k(b *testing.B) {
	const n = 100_000
	dsn := pgtest.NewDatabase(b)
	seedEvents(b, dsn, n)
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, mode := range []string{"Decoder", "PgxScan"} {
		b.Run(mode, func(b *testing.B) {
			postgres.SetGenericScan(mode == "PgxScan")
			defer postgres.SetGenericScan(false)
			readAllPages(b, s, n)
		})
	}
}

func readAllPages(b *testing.B, s *postgres.Store, n int) {
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var after eventstore.Position
		for got := 0; got < n; {
			page, err := s.ReadAll(context.Background(), eventstore.ReadAllOptions{After: after, Limit: 1000})
			if err != nil {
				b.Fatal(err)
			}
			got += len(page)
			after = page[len(page)-1].Position
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
}
