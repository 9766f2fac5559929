// Package latency summarizes samples of durations for the bench/ load
// generators: count, percentiles and maximum.
package latency

import (
	"fmt"
	"slices"
	"time"
)

// Summary is the distribution of a set of samples.
type Summary struct {
	N             int
	P50, P90, P99 time.Duration
	Max           time.Duration
}

// Summarize returns the summary of samples (which it sorts in place).
// Percentiles use the nearest-rank method.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	return Summary{
		N:   len(samples),
		P50: Percentile(samples, 50), P90: Percentile(samples, 90), P99: Percentile(samples, 99),
		Max: samples[len(samples)-1],
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted samples by
// the nearest-rank method; 0 when there are none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// String renders s as "n=… p50=… p90=… p99=… max=…" in milliseconds.
func (s Summary) String() string {
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", s.N, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
