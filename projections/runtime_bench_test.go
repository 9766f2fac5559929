package projections

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/memory"
)

type noopProjection struct{ name string }

func (p noopProjection) Name() string                               { return p.name }
func (p noopProjection) Tables() []string                           { return nil }
func (p noopProjection) StreamPrefixes() []string                   { return nil }
func (p noopProjection) Apply(context.Context, pgx.Tx, Event) error { return nil }

// BenchmarkRuntimeCatchUp measures catching up b.N events: runtime overhead
// alone (noop) and with two idempotent statements per event (rows).
func BenchmarkRuntimeCatchUp(b *testing.B) {
	for _, tc := range []struct {
		name string
		rows bool
	}{{"noop", false}, {"rows", true}} {
		b.Run(tc.name, func(b *testing.B) {
			pool := newDBB(b)
			store := memory.New(eventstore.Options{})
			var p Projection = noopProjection{name: "bench_v1"}
			if tc.rows {
				tp := newTestProjection("bench_v1", "benchp")
				createTablesB(b, pool, tp)
				p = tp
			}
			head := appendEvents(b, store, streamsOf("post-", 10), b.N)
			rt, err := NewRuntime(Config{Pool: pool, Store: store, Projections: []Projection{p}, Logger: discard()})
			if err != nil {
				b.Fatal(err)
			}
			w := NewWaiter(pool, discard())
			defer w.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			b.ResetTimer()
			start := time.Now()
			go func() { done <- rt.Run(ctx) }()
			wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Minute)
			if err := w.WaitFor(wctx, head, "bench_v1"); err != nil {
				b.Fatal(err)
			}
			wcancel()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			cancel()
			<-done
		})
	}
}
