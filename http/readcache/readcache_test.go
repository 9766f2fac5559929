package readcache

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type gen struct{ n atomic.Uint64 }

func (g *gen) Generation() uint64 { return g.n.Load() }

func byteSize(b []byte) int { return len(b) }

func TestServesUntilGenerationChanges(t *testing.T) {
	g := &gen{}
	c := New(Config{Source: g}, byteSize)
	calls := 0
	compute := func() ([]byte, error) { calls++; return []byte("v" + string(rune('0'+calls))), nil }
	for range 3 {
		v, err := c.Get("k", compute)
		if err != nil || string(v) != "v1" {
			t.Fatalf("got %q, %v; want v1", v, err)
		}
	}
	if calls != 1 {
		t.Fatalf("computed %d times, want 1", calls)
	}
	g.n.Add(1)
	if v, _ := c.Get("k", compute); string(v) != "v2" {
		t.Fatalf("after a new generation got %q, want v2", v)
	}
}

func TestValueComputedDuringAnnouncementIsNotServedAfterIt(t *testing.T) {
	g := &gen{}
	c := New(Config{Source: g}, byteSize)
	// The read models change (and the change is announced) while the value
	// is being computed from the old rows.
	v, _ := c.Get("k", func() ([]byte, error) { g.n.Add(1); return []byte("old"), nil })
	if string(v) != "old" {
		t.Fatalf("got %q", v)
	}
	v, _ = c.Get("k", func() ([]byte, error) { return []byte("new"), nil })
	if string(v) != "new" {
		t.Fatalf("served %q computed before the announcement; want new", v)
	}
}

func TestTTLAndErrors(t *testing.T) {
	g := &gen{}
	now := time.Unix(1000, 0)
	c := New(Config{Source: g, TTL: time.Second, Now: func() time.Time { return now }}, byteSize)
	if _, err := c.Get("k", func() ([]byte, error) { return nil, errors.New("boom") }); err == nil {
		t.Fatal("error not returned")
	}
	if v, _ := c.Get("k", func() ([]byte, error) { return []byte("a"), nil }); string(v) != "a" {
		t.Fatalf("an error was cached: got %q", v)
	}
	now = now.Add(999 * time.Millisecond)
	if v, _ := c.Get("k", func() ([]byte, error) { return []byte("b"), nil }); string(v) != "a" {
		t.Fatalf("within TTL got %q, want a", v)
	}
	now = now.Add(time.Millisecond)
	if v, _ := c.Get("k", func() ([]byte, error) { return []byte("b"), nil }); string(v) != "b" {
		t.Fatalf("past TTL got %q, want b", v)
	}
}

func TestMemoryBound(t *testing.T) {
	g := &gen{}
	c := New(Config{Source: g, MaxBytes: 4000}, byteSize)
	val := []byte(strings.Repeat("x", 900))
	for i := range 50 {
		key := string(rune('A' + i))
		if _, err := c.Get(key, func() ([]byte, error) { return val, nil }); err != nil {
			t.Fatal(err)
		}
		if _, _, b := c.Stats(); b > 4000 {
			t.Fatalf("holds %d bytes, cap 4000", b)
		}
	}
	big := []byte(strings.Repeat("y", 2000)) // over a quarter of the cap: not kept
	c.Get("big", func() ([]byte, error) { return big, nil })
	calls := 0
	c.Get("big", func() ([]byte, error) { calls++; return big, nil })
	if calls != 1 {
		t.Fatal("an oversized value was cached")
	}
}

func TestConcurrentMissesShareOneCompute(t *testing.T) {
	g := &gen{}
	c := New(Config{Source: g}, byteSize)
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Get("k", func() ([]byte, error) {
				calls.Add(1)
				<-release
				return []byte("v"), nil
			})
			if err != nil || string(v) != "v" {
				t.Errorf("got %q, %v", v, err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n < 1 || n > 20 {
		t.Fatalf("computed %d times", n)
	}
	// A caller that saw a newer generation never joins an older compute.
	g.n.Add(1)
	v, _ := c.Get("k", func() ([]byte, error) { return []byte("w"), nil })
	if string(v) != "w" {
		t.Fatalf("got %q, want w", v)
	}
}
