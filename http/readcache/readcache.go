// Package readcache keeps rendered read-model responses (JSON bodies, HTML
// pages) in memory until the read models change.
//
// Read models change only when a projection commits a batch, and every such
// commit is announced (see projections.Waiter.Generation). A cache entry is
// stored with the generation read before the value was computed and served
// only while the generation is unchanged, so it can never be older than the
// last announced commit: a response computed from rows committed earlier
// than announcement g is stored under a generation < g and is not served
// once g is known. Entries also expire after a TTL, which bounds staleness
// while the listener is cut off from the database and cannot hear
// announcements. Only responses that are the same for every caller of the
// key belong here (anonymous, public pages); per-user responses do not.
package readcache

import (
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Generationer returns a number that changes whenever the read models may
// have changed. *projections.Waiter satisfies it.
type Generationer interface {
	Generation() uint64
}

// Config configures a Cache.
type Config struct {
	// Source tells when entries become stale. Required.
	Source Generationer
	// TTL caps how long an entry is served even when the generation does
	// not change. Default 5 s.
	TTL time.Duration
	// MaxBytes caps the total size of the cached values. Default 32 MiB.
	MaxBytes int
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Cache maps keys to values of type V computed from read models.
type Cache[V any] struct {
	src      Generationer
	ttl      time.Duration
	maxBytes int
	now      func() time.Time
	size     func(V) int
	group    singleflight.Group

	mu      sync.Mutex
	entries map[string]entry[V]
	bytes   int
	hits    uint64
	misses  uint64
}

type entry[V any] struct {
	gen     uint64
	expires time.Time
	value   V
	size    int
}

// New returns an empty cache; size reports how many bytes a value holds.
func New[V any](cfg Config, size func(V) int) *Cache[V] {
	if cfg.Source == nil {
		panic("readcache: Source is required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Second
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 32 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache[V]{src: cfg.Source, ttl: cfg.TTL, maxBytes: cfg.MaxBytes, now: cfg.Now, size: size,
		entries: map[string]entry[V]{}}
}

// Get returns the value for key: a fresh cached one, or the result of
// compute, which is cached when it succeeds. Concurrent misses of one key
// share a single compute call.
func (c *Cache[V]) Get(key string, compute func() (V, error)) (V, error) {
	gen := c.src.Generation()
	if v, ok := c.lookup(key, gen); ok {
		return v, nil
	}
	// Callers share a compute only within one generation: a caller that
	// saw a newer generation must not get a value read before it.
	res, err, _ := c.group.Do(strconv.FormatUint(gen, 10)+"\x00"+key, func() (any, error) {
		// gen was read before the read models are, so the value is at least
		// as new as every commit announced before gen.
		v, err := compute()
		if err != nil {
			return v, err
		}
		c.store(key, gen, v)
		return v, nil
	})
	if err != nil {
		var zero V
		return zero, err
	}
	return res.(V), nil
}

func (c *Cache[V]) lookup(key string, gen uint64) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if ok && e.gen == gen && c.now().Before(e.expires) {
		c.hits++
		return e.value, true
	}
	c.misses++
	var zero V
	return zero, false
}

func (c *Cache[V]) store(key string, gen uint64, v V) {
	n := c.size(v) + len(key)
	if n > c.maxBytes/4 {
		return // one value must not crowd out the others
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[key]; ok {
		c.bytes -= old.size
		delete(c.entries, key)
	}
	if c.bytes+n > c.maxBytes {
		c.evict(gen, n)
	}
	c.entries[key] = entry[V]{gen: gen, expires: c.now().Add(c.ttl), value: v, size: n}
	c.bytes += n
}

// evict frees room for n bytes: first every entry of another generation or
// past its TTL (none can be served again), then arbitrary ones.
func (c *Cache[V]) evict(gen uint64, n int) {
	now := c.now()
	for k, e := range c.entries {
		if e.gen != gen || !now.Before(e.expires) {
			c.bytes -= e.size
			delete(c.entries, k)
		}
	}
	for k, e := range c.entries {
		if c.bytes+n <= c.maxBytes {
			return
		}
		c.bytes -= e.size
		delete(c.entries, k)
	}
}

// Stats returns the hit and miss counts and the bytes held.
func (c *Cache[V]) Stats() (hits, misses uint64, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, c.bytes
}
