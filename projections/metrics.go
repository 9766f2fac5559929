package projections

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the projection runtime's Prometheus metrics, labelled by
// projection name. A nil *Metrics records nothing.
type Metrics struct {
	// EventsApplied counts events handed to a projection and committed.
	EventsApplied *prometheus.CounterVec
	// BatchSize observes the events applied per committed batch.
	BatchSize *prometheus.HistogramVec
	// BatchDuration observes how long a batch took from begin to commit.
	BatchDuration *prometheus.HistogramVec
	// LagEvents is the distance between the log head and the checkpoint.
	LagEvents *prometheus.GaugeVec
	// LagSeconds is the age of the oldest event not yet projected.
	LagSeconds *prometheus.GaugeVec
	// Failures counts projections stopped by an event that kept failing.
	Failures *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "palimpsest", "projection"
	m := &Metrics{
		EventsApplied: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "events_applied_total", Help: "Events applied by a projection and committed."}, []string{"projection"}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "batch_size", Help: "Events applied per committed batch.",
			Buckets: []float64{0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500}}, []string{"projection"}),
		BatchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "batch_duration_seconds", Help: "Time from batch begin to commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"projection"}),
		LagEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "lag_events", Help: "Log head position minus checkpoint position."}, []string{"projection"}),
		LagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "lag_seconds", Help: "Age of the oldest event the projection has not reached."}, []string{"projection"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "failures_total", Help: "Times a projection stopped on a failing event."}, []string{"projection"}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.EventsApplied, m.BatchSize, m.BatchDuration, m.LagEvents, m.LagSeconds, m.Failures} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("register projection metrics: %w", errors.Join(errs...))
	}
	return m, nil
}

func (m *Metrics) observeBatch(name string, applied int, d time.Duration) {
	if m == nil {
		return
	}
	m.EventsApplied.WithLabelValues(name).Add(float64(applied))
	m.BatchSize.WithLabelValues(name).Observe(float64(applied))
	m.BatchDuration.WithLabelValues(name).Observe(d.Seconds())
}

func (m *Metrics) observeFailure(name string) {
	if m == nil {
		return
	}
	m.Failures.WithLabelValues(name).Inc()
}

func (m *Metrics) observeLag(s ProjectionStatus) {
	if m == nil {
		return
	}
	m.LagEvents.WithLabelValues(s.Name).Set(float64(s.LagEvents))
	m.LagSeconds.WithLabelValues(s.Name).Set(s.LagSeconds)
}
