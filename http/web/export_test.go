package web

// PublicCacheStats reports the hits and misses of the public page cache.
func (ui *UI) PublicCacheStats() (hits, misses uint64) {
	if ui.public == nil {
		return 0, 0
	}
	hits, misses, _ = ui.public.Stats()
	return hits, misses
}
