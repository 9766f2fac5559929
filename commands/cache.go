package commands

import (
	"container/list"
	"sync"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// cache is a bounded, least-recently-used map from stream name to a folded
// aggregate. It never answers on its own: its users hold the entry's lock and
// either catch the aggregate up with the events stored after its version, or
// act on it only through an append at exactly its version, which the store
// refuses if other processes appended meanwhile (see execPost).
//
// It holds at most max entries and, when it has a size function, at most
// maxBytes of aggregates by that measure: a post keeps the content of every
// revision, so a few long-edited posts can outweigh thousands of others.
// The most recently used entry is kept even if it alone is over the budget.
type cache[T any] struct {
	mu       sync.Mutex
	max      int // <= 0: disabled
	maxBytes int64
	size     sizeFunc[T] // nil: no byte budget
	bytes    int64       // sum of the entries' accounted sizes
	order    *list.List
	items    map[string]*list.Element
}

// entry is one cached aggregate. Its mutex serializes commands on the stream
// within this process; loaded is false until the stream had events.
type entry[T any] struct {
	key    string
	mu     sync.Mutex
	agg    T
	loaded bool
	// bytes is agg's size with its first measured parts counted (see
	// sizeFunc); guarded by mu, like agg.
	bytes    int64
	measured int
	size     int64 // bytes as last accounted (release); guarded by the cache's mu
}

// sizeFunc measures an aggregate incrementally: the bytes of its parts from
// the from-th on, and how many parts it has. Parts are only ever appended
// while an entry lives (a failed command puts the aggregate back as it was,
// a shorter prefix at worst), so each release measures only what the
// command added, not the whole aggregate again: a post edited 10,000 times
// costs no more to account than one edited once.
type sizeFunc[T any] func(agg T, from int) (bytes int64, parts int)

func newCache[T any](max int) *cache[T] {
	return &cache[T]{max: max, order: list.New(), items: map[string]*list.Element{}}
}

// withByteBudget bounds the cache's aggregates to maxBytes as size measures
// them (maxBytes <= 0: no budget).
func (c *cache[T]) withByteBudget(maxBytes int64, size sizeFunc[T]) *cache[T] {
	if maxBytes > 0 {
		c.maxBytes, c.size = maxBytes, size
	}
	return c
}

// acquire returns the entry for key, locked. The caller must unlock it.
func (c *cache[T]) acquire(key string) *entry[T] {
	if c.max <= 0 {
		e := &entry[T]{key: key}
		e.mu.Lock()
		return e
	}
	c.mu.Lock()
	var e *entry[T]
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		e = el.Value.(*entry[T])
	} else {
		e = &entry[T]{key: key}
		c.items[key] = c.order.PushFront(e)
		for c.order.Len() > c.max {
			c.evictOldest()
		}
	}
	c.mu.Unlock()
	e.mu.Lock()
	return e
}

// evictOldest removes the least recently used entry. Caller holds c.mu.
func (c *cache[T]) evictOldest() {
	old := c.order.Back()
	c.order.Remove(old)
	e := old.Value.(*entry[T])
	delete(c.items, e.key)
	c.bytes -= e.size
}

// release unlocks e, which its holder may have changed, and accounts its
// new size against the byte budget, evicting the least recently used
// entries over it. Holders that may have changed e.agg release it instead
// of unlocking it.
func (c *cache[T]) release(e *entry[T]) {
	if c.size == nil {
		e.mu.Unlock()
		return
	}
	if e.loaded {
		add, parts := c.size(e.agg, e.measured)
		if parts < e.measured { // put back shorter than last measured: again, whole
			add, parts = c.size(e.agg, 0)
			e.bytes = 0
		}
		e.bytes, e.measured = e.bytes+add, parts
	}
	n := e.bytes
	e.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.key]; !ok || el.Value.(*entry[T]) != e {
		return // evicted or dropped meanwhile: no longer counted
	}
	c.bytes += n - e.size
	e.size = n
	for c.bytes > c.maxBytes && c.order.Len() > 1 {
		c.evictOldest()
	}
}

// offer caches agg, the state of stream key at a version known to be
// current (e.g. just appended), unless the key is already cached.
func (c *cache[T]) offer(key string, agg T) {
	if c.max <= 0 {
		return
	}
	e := c.acquire(key)
	if !e.loaded {
		e.agg, e.loaded = agg, true
	}
	c.release(e)
}

// drop forgets e (e.g. after a failed load left it inconsistent). A new
// entry for the same key is loaded from the store on next use.
func (c *cache[T]) drop(e *entry[T]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.key]; ok && el.Value.(*entry[T]) == e {
		c.order.Remove(el)
		delete(c.items, e.key)
		c.bytes -= e.size
	}
}

// len returns the number of cached entries.
func (c *cache[T]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// postBytes approximates the memory a cached post holds, as a sizeFunc over
// its revisions: the text of every revision (Content shares the last one's)
// and a fixed allowance for the rest of the aggregate and each revision's
// headers.
func postBytes(p *domain.Post, from int) (int64, int) {
	const fixed, perRevision, perTag = 1024, 96, 32
	if from > len(p.Revisions) {
		return 0, len(p.Revisions)
	}
	var n int64
	if from == 0 {
		n = fixed
	}
	for _, r := range p.Revisions[from:] {
		n += perRevision + int64(len(r.Title)+len(r.Excerpt)+len(r.Body))
		for _, t := range r.Tags {
			n += perTag + int64(len(t))
		}
	}
	return n, len(p.Revisions)
}
