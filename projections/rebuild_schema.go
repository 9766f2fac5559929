package projections

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// scratchTable is a table being rebuilt in the scratch schema.
type scratchTable struct {
	name string
	bulk bool // filled by COPY
	// indexes re-create the live table's indexes and index-backed
	// constraints on the scratch copy, under the same names.
	indexes []scratchIndex
}

// scratchIndex is the statement creating one index (or index-backed
// constraint) of a scratch table.
type scratchIndex struct {
	sql    string
	unique bool
}

// early reports whether the index is created before the table is filled:
// the unique ones of tables filled through Apply, whose ON CONFLICT clauses
// and uniqueness checks need them. Other indexes are built afterwards, from
// the whole table at once, which costs a fraction of maintaining them row
// by row (the GIN indexes of post_search and posts most of all).
func (t *scratchTable) early(x scratchIndex) bool { return x.unique && !t.bulk }

// indexBuildMemory is maintenance_work_mem for building the indexes of
// bulk-loaded tables: enough to sort a million keys in memory.
const indexBuildMemory = "256MB"

// indexWorkers is how many index builds and ANALYZEs run at a time. More
// than the two the CPU work alone would call for: every index build ends
// by writing and fsyncing its file (it bypasses shared buffers), and the
// others keep the CPUs busy meanwhile. Each runs without parallel workers
// (max_parallel_maintenance_workers = 0), which would only contend with
// the other builds for the same CPUs.
const indexWorkers = 4

// createScratch creates the scratch schema and an empty copy of every table
// (columns, defaults, generated columns, constraints, compression:
// CREATE TABLE … (LIKE … INCLUDING ALL EXCLUDING INDEXES)) with its early
// indexes.
func (b *rebuild) createScratch(ctx context.Context) error {
	return pgx.BeginFunc(ctx, b.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{b.scratch}.Sanitize()); err != nil {
			return fmt.Errorf("create scratch schema: %w", err)
		}
		for i, p := range b.ps {
			_, bulk := p.(BulkLoader)
			for _, t := range p.Tables() {
				st := &scratchTable{name: t, bulk: bulk}
				if _, err := tx.Exec(ctx, "CREATE TABLE "+pgx.Identifier{b.scratch, t}.Sanitize()+
					" (LIKE "+pgx.Identifier{"public", t}.Sanitize()+" INCLUDING ALL EXCLUDING INDEXES)"); err != nil {
					return fmt.Errorf("create scratch table %s: %w", t, err)
				}
				var err error
				if st.indexes, err = indexStatements(ctx, tx, b.scratch, t); err != nil {
					return err
				}
				for _, x := range st.indexes {
					if !st.early(x) {
						continue
					}
					if _, err := tx.Exec(ctx, x.sql); err != nil {
						return fmt.Errorf("index scratch table %s: %w", t, err)
					}
				}
				b.tables = append(b.tables, st)
				b.owner = append(b.owner, i)
			}
		}
		return nil
	})
}

// indexStatements returns the statements that give scratch.table the
// indexes and index-backed constraints of public.table, with their names.
func indexStatements(ctx context.Context, tx pgx.Tx, scratch, table string) ([]scratchIndex, error) {
	rows, err := tx.Query(ctx, `SELECT coalesce(con.conname, ''), i.indisunique,
			CASE WHEN con.oid IS NULL THEN pg_get_indexdef(i.indexrelid) ELSE pg_get_constraintdef(con.oid) END,
			format('%I.%I', n.nspname, t.relname)
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
		WHERE i.indrelid = $1::regclass
		ORDER BY i.indisprimary DESC, ic.relname`, pgx.Identifier{"public", table}.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("read indexes of %s: %w", table, err)
	}
	type index struct {
		constraint     string
		unique         bool
		def, qualified string
	}
	idx, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var x index
		return x, r.Scan(&x.constraint, &x.unique, &x.def, &x.qualified)
	})
	if err != nil {
		return nil, fmt.Errorf("read indexes of %s: %w", table, err)
	}
	target := pgx.Identifier{scratch, table}.Sanitize()
	var out []scratchIndex
	for _, x := range idx {
		if x.constraint != "" {
			out = append(out, scratchIndex{unique: x.unique,
				sql: "ALTER TABLE " + target + " ADD CONSTRAINT " + pgx.Identifier{x.constraint}.Sanitize() + " " + x.def})
			continue
		}
		on := " ON " + x.qualified + " USING "
		if strings.Count(x.def, on) != 1 {
			return nil, fmt.Errorf("copy index of %s: unexpected definition %q", table, x.def)
		}
		out = append(out, scratchIndex{unique: x.unique, sql: strings.Replace(x.def, on, " ON "+target+" USING ", 1)})
	}
	return out, nil
}

// indexJob is one statement finishing a loaded table: an index not
// created early, or ANALYZE (fresh tables have no statistics, and plan
// quality collapses without them; the statistics move into public with
// the tables).
type indexJob struct {
	sql     string
	table   int   // index into rebuild.tables
	analyze bool  // the table's ANALYZE, after its indexes
	cost    int64 // larger first: the table's size
}

// indexScheduler hands out the index builds and ANALYZEs of the rebuild to
// indexWorkers connections: those of a table once it is loaded
// (releaseTables), the costliest ready one first (so that the longest
// builds do not start last), and a table's ANALYZE once its indexes exist
// (the statistics of expression indexes need them).
type indexScheduler struct {
	mu      sync.Mutex
	cond    *sync.Cond
	ready   []indexJob
	jobs    [][]indexJob // per table: its index builds
	pending []int        // per table: index builds not finished
	left    int          // jobs not finished, of every table
	stopped bool
}

// newIndexScheduler lists the jobs of every table, none ready yet.
func (b *rebuild) newIndexScheduler() *indexScheduler {
	s := &indexScheduler{jobs: make([][]indexJob, len(b.tables)), pending: make([]int, len(b.tables))}
	s.cond = sync.NewCond(&s.mu)
	for i, t := range b.tables {
		for _, x := range t.indexes {
			if !t.early(x) {
				s.jobs[i] = append(s.jobs[i], indexJob{sql: x.sql, table: i})
			}
		}
		s.pending[i] = len(s.jobs[i])
		s.left += len(s.jobs[i]) + 1 // and ANALYZE
	}
	return s
}

// releaseTables makes the jobs of tables ready: they are loaded.
func (b *rebuild) releaseTables(ctx context.Context, s *indexScheduler, tables []int) error {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{b.scratch, b.tables[t].name}.Sanitize()
	}
	rows, err := b.cfg.Pool.Query(ctx, "SELECT pg_total_relation_size(t::regclass) FROM unnest($1::text[]) WITH ORDINALITY AS x(t, i) ORDER BY i", names)
	if err != nil {
		return fmt.Errorf("size scratch tables: %w", err)
	}
	sizes, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("size scratch tables: %w", err)
	}
	if len(sizes) != len(tables) {
		return fmt.Errorf("size scratch tables: %d sizes for %d tables", len(sizes), len(tables))
	}
	s.release(tables, sizes)
	return nil
}

// release makes the jobs of tables, of the given sizes, ready.
func (s *indexScheduler) release(tables []int, sizes []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range tables {
		for _, j := range s.jobs[t] {
			j.cost = sizes[i]
			s.ready = append(s.ready, j)
		}
		if s.pending[t] == 0 {
			s.ready = append(s.ready, s.analyzeJob(t, sizes[i]))
		}
		s.jobs[t] = nil
	}
	s.cond.Broadcast()
}

// analyzeJob is the ANALYZE of table t, of size bytes. It reads a sample
// of at most 30,000 rows: cheaper than an index build of the same table.
func (s *indexScheduler) analyzeJob(t int, size int64) indexJob {
	return indexJob{table: t, analyze: true, cost: size / 4}
}

// next waits for a ready job; false when none is left or after stop.
func (s *indexScheduler) next() (indexJob, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.ready) == 0 && s.left > 0 && !s.stopped {
		s.cond.Wait()
	}
	if len(s.ready) == 0 || s.stopped {
		return indexJob{}, false
	}
	best := 0
	for i, j := range s.ready {
		if j.cost > s.ready[best].cost {
			best = i
		}
	}
	j := s.ready[best]
	s.ready = append(s.ready[:best], s.ready[best+1:]...)
	return j, true
}

// done records a finished job.
func (s *indexScheduler) done(j indexJob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.left--
	if !j.analyze {
		if s.pending[j.table]--; s.pending[j.table] == 0 {
			s.ready = append(s.ready, s.analyzeJob(j.table, j.cost))
		}
	}
	s.cond.Broadcast()
}

// stop makes next return false.
func (s *indexScheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.cond.Broadcast()
}

// runIndexJobs runs the scheduler's jobs on a connection of its own until
// none is left.
func (b *rebuild) runIndexJobs(ctx context.Context, sched *indexScheduler) error {
	conn, err := b.connect(ctx, "indexes")
	if err != nil {
		return err
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "SELECT set_config('maintenance_work_mem', $1, false), set_config('max_parallel_maintenance_workers', '0', false)",
		indexBuildMemory); err != nil {
		return err
	}
	for {
		j, ok := sched.next()
		if !ok {
			return nil
		}
		sql := j.sql
		if j.analyze {
			sql = "ANALYZE " + pgx.Identifier{b.scratch, b.tables[j.table].name}.Sanitize()
		}
		start := time.Now()
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("build indexes: %s: %w", sql, err)
		}
		b.cfg.Logger.Debug("rebuild: index job", "sql", sql, "took", time.Since(start).Round(time.Millisecond))
		sched.done(j)
	}
}
