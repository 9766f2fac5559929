package esdb_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/esdb"
	"github.com/palimpsest-cms/palimpsest/eventstore/esdb/esdbtest"
)

// BenchmarkAppendParallel measures single-event appends to distinct streams
// through the official client against esdbtest (client and server share
// the process, so this measures the adapter + gRPC path, not EventStoreDB).
func BenchmarkAppendParallel(b *testing.B) {
	s, err := esdb.Open(b.Context(), esdbtest.Start(b), esdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		stream := fmt.Sprintf("bench-%d", n.Add(1))
		v := uint64(0)
		for pb.Next() {
			ev := eventstore.EventData{ID: uuid.New(), Type: "Benchmarked", Data: []byte(`{"n":1}`)}
			if _, err := s.Append(b.Context(), stream, eventstore.Exact(v), ev); err != nil {
				b.Error(err)
				return
			}
			v++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}
