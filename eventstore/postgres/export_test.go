package postgres

// AnalyzeRuns reports how many background ANALYZE runs of the event store
// tables this Store completed.
func (s *Store) AnalyzeRuns() int64 { return s.analyzer.runs.Load() }

// AnalyzeThreshold reports how many appended events trigger the next
// background ANALYZE.
func (s *Store) AnalyzeThreshold() int64 { return s.analyzer.threshold() }

// QueueLen reports how many appends wait for the committer (withdrawn ones
// included until the committer drops them).
func (s *Store) QueueLen() int {
	s.committer.mu.Lock()
	defer s.committer.mu.Unlock()
	return len(s.committer.queue)
}

// SetGenericScan makes reads decode rows with pgx's Scan (true) or the
// store's own decoder (false, the default); for benchmarks.
func SetGenericScan(on bool) { genericScan.Store(on) }

// Batches reports how many group commits the store has run.
func (s *Store) Batches() int64 { return s.committer.batches.Load() }
