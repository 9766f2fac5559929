package commands

import (
	"container/list"
	"sync"
)

// cache is a bounded, least-recently-used map from stream name to a folded
// aggregate. It never answers on its own: its users hold the entry's lock and
// either catch the aggregate up with the events stored after its version, or
// act on it only through an append at exactly its version, which the store
// refuses if other processes appended meanwhile (see execPost).
type cache[T any] struct {
	mu    sync.Mutex
	max   int // <= 0: disabled
	order *list.List
	items map[string]*list.Element
}

// entry is one cached aggregate. Its mutex serializes commands on the stream
// within this process; loaded is false until the stream had events.
type entry[T any] struct {
	key    string
	mu     sync.Mutex
	agg    T
	loaded bool
}

func newCache[T any](max int) *cache[T] {
	return &cache[T]{max: max, order: list.New(), items: map[string]*list.Element{}}
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
			old := c.order.Back()
			c.order.Remove(old)
			delete(c.items, old.Value.(*entry[T]).key)
		}
	}
	c.mu.Unlock()
	e.mu.Lock()
	return e
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
	e.mu.Unlock()
}

// drop forgets e (e.g. after a failed load left it inconsistent). A new
// entry for the same key is loaded from the store on next use.
func (c *cache[T]) drop(e *entry[T]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.key]; ok && el.Value.(*entry[T]) == e {
		c.order.Remove(el)
		delete(c.items, e.key)
	}
}

// len returns the number of cached entries.
func (c *cache[T]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
