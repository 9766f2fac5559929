package media

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the process's user+system CPU time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProcess12MP processes a 4000×3000 JPEG into all library
// renditions (decode, EXIF, resize, encode). Target: ≤ 1.5 s per op on 2
// cores. It also reports CPU seconds per op, which stays meaningful on a
// machine busy with other work.
func BenchmarkProcess12MP(b *testing.B) {
	data := jpegBytes(b, noisy(4000, 3000))
	p := newProcessor(b, Limits{})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	n := 0
	for b.Loop() {
		if _, err := p.ProcessBytes(context.Background(), data, LibraryProfile); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(n), "cpu-s/op")
}
