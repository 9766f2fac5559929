package projections

import (
	"math"
	"runtime/debug"
	"testing"
)

// LimitRebuildMemory sets the soft memory limit, unless GOMEMLIMIT chose one.
func TestLimitRebuildMemory(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "")
	LimitRebuildMemory()
	if got := debug.SetMemoryLimit(-1); got != RebuildMemoryLimit {
		t.Fatalf("limit = %d, want %d", got, RebuildMemoryLimit)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	LimitRebuildMemory()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("limit = %d with GOMEMLIMIT set, want it left alone", got)
	}
}
