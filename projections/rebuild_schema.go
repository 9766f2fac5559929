package projections

import (
	"context"
	"fmt"
	"strings"
	"sync"

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
// by row (the full-text GIN index of posts most of all).
func (t *scratchTable) early(x scratchIndex) bool { return x.unique && !t.bulk }

// indexBuildMemory is maintenance_work_mem for building the indexes of
// bulk-loaded tables: enough to sort a million keys in memory.
const indexBuildMemory = "256MB"

// createScratch creates the scratch schema and an empty copy of every table
// (columns, defaults, generated columns, constraints, compression:
// CREATE TABLE … (LIKE … INCLUDING ALL EXCLUDING INDEXES)) with its early
// indexes.
func (b *rebuild) createScratch(ctx context.Context) error {
	return pgx.BeginFunc(ctx, b.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{b.scratch}.Sanitize()); err != nil {
			return fmt.Errorf("create scratch schema: %w", err)
		}
		for _, p := range b.ps {
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

// buildIndexes finishes the tables once filled: the bulk loads' fix-up
// statements, then the indexes not created early and ANALYZE (fresh tables
// have no statistics, and plan quality collapses without them), two
// statements at a time (index builds may also use PostgreSQL's parallel
// workers). The statistics move into public with the tables.
func (b *rebuild) buildIndexes(ctx context.Context) error {
	var finish []string
	for _, l := range b.loads {
		finish = append(finish, l.Finish()...)
	}
	var jobs []string
	for _, t := range b.tables {
		for _, x := range t.indexes {
			if !t.early(x) {
				jobs = append(jobs, x.sql)
			}
		}
		jobs = append(jobs, "ANALYZE "+pgx.Identifier{b.scratch, t.name}.Sanitize())
	}
	if len(finish) > 0 {
		err := pgx.BeginFunc(ctx, b.cfg.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", pgx.Identifier{b.scratch}.Sanitize()); err != nil {
				return err
			}
			for _, sql := range finish {
				if _, err := tx.Exec(ctx, sql); err != nil {
					return fmt.Errorf("%s: %w", sql, err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("finish bulk load: %w", err)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queue := make(chan string)
	var wg sync.WaitGroup
	for range min(2, len(jobs)) {
		wg.Go(func() {
			if err := b.runIndexJobs(ctx, queue); err != nil {
				cancel(err)
			}
		})
	}
	func() {
		defer close(queue)
		for _, sql := range jobs {
			select {
			case queue <- sql:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("build indexes: %w", err)
	}
	return nil
}

func (b *rebuild) runIndexJobs(ctx context.Context, queue <-chan string) error {
	conn, err := b.connect(ctx, "indexes")
	if err != nil {
		return err
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "SELECT set_config('maintenance_work_mem', $1, false)", indexBuildMemory); err != nil {
		return err
	}
	for sql := range queue {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return nil
}
