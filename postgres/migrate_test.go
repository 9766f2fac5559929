package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = Migrate(ctx, pool)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Migrate #%d: %v", i, err)
		}
	}
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || n == 0 {
		t.Fatalf("schema_migrations rows = %d, want %d", n, len(ms))
	}
	if _, err := pool.Exec(ctx, "INSERT INTO projection_checkpoints (name) VALUES ('x_v1')"); err != nil {
		t.Fatalf("projection_checkpoints missing: %v", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}

	// An applied file that changed is refused.
	if _, err := pool.Exec(ctx, "UPDATE schema_migrations SET checksum = 'tampered0000' WHERE version = $1", ms[0].Version); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); !errors.Is(err, ErrMigrationChanged) {
		t.Fatalf("Migrate with changed file = %v, want ErrMigrationChanged", err)
	}
}

func TestMigrateEachFileInItsOwnTransactionInOrder(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"m/0002_b.sql":   {Data: []byte("CREATE TABLE b (id int); INSERT INTO b SELECT count(*) FROM a;")},
		"m/0001_a.sql":   {Data: []byte("CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);")},
		"m/0003_bad.sql": {Data: []byte("CREATE TABLE c (id int); SELECT 1/0;")},
		"m/README.md":    {Data: []byte("not a migration")},
	}
	err := migrateFS(ctx, pool, fsys, "m")
	if err == nil || !errorsContain(err, "0003_bad") {
		t.Fatalf("migrate = %v, want failure in 0003_bad", err)
	}
	var b int
	if err := pool.QueryRow(ctx, "SELECT id FROM b").Scan(&b); err != nil || b != 1 {
		t.Fatalf("0002 ran before 0001? b=%d err=%v", b, err)
	}
	var c bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('c') IS NOT NULL").Scan(&c); err != nil || c {
		t.Fatalf("failed migration left table c behind (exists=%v, err=%v)", c, err)
	}
	rows, err := pool.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[0001_a 0002_b]" {
		t.Fatalf("recorded %v", got)
	}
}

func errorsContain(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

func TestOpenCreatesMissingDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A database name nobody has: create it through Open, then drop it.
	dsn := pgtest.NewDatabase(t)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := "palimpsest_open_" + admin.Config().Database[len("palimpsest_test_"):]
	_ = admin.Close(ctx)
	cfg, err := pgx.ParseConfig(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.AdminURL())
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	for i := 0; i < 2; i++ { // the second Open finds it
		pool, err := Open(ctx, target)
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		var db string
		if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != name {
			t.Fatalf("connected to %q (%v), want %q", db, err, name)
		}
		pool.Close()
	}
}

// 0006 moves the vectors of a database whose posts still have the generated
// search column into post_search, starts search_v1 at posts_v1's checkpoint
// and drops the column; a fresh database gets an empty post_search.
func TestMigrateMovesSearchVectors(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t)
	ctx := context.Background()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	before := fstest.MapFS{}
	for _, m := range ms {
		if m.Version < "0006" {
			before["m/"+m.Version+".sql"] = &fstest.MapFile{Data: []byte(m.SQL)}
		}
	}
	if err := migrateFS(ctx, pool, before, "m"); err != nil {
		t.Fatal(err)
	}
	id := "7b3c1d5e-0000-4000-8000-000000000001"
	if _, err := pool.Exec(ctx, `INSERT INTO posts (id, slug, title, body, body_html, excerpt, status, author_id, version, revision,
		created_at, updated_at, last_position)
		VALUES ($1, 'p', 'Compost heaps', 'Worms turn kitchen scraps into soil.', '', 'About compost', 'published',
			$1, 3, 1, now(), now(), 42)`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, position, events_applied) VALUES ('posts_v1', 57, 9)`); err != nil {
		t.Fatal(err)
	}
	var want string
	if err := pool.QueryRow(ctx, "SELECT search::text FROM posts WHERE id = $1", id).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	var got string
	var pos int64
	if err := pool.QueryRow(ctx, "SELECT search::text, last_position FROM post_search WHERE post_id = $1", id).Scan(&got, &pos); err != nil {
		t.Fatal(err)
	}
	if got != want || pos != 42 || !strings.Contains(got, "'worm'") {
		t.Fatalf("post_search row = %q at %d, want %q at 42", got, pos, want)
	}
	var cp, applied int64
	if err := pool.QueryRow(ctx, "SELECT position, events_applied FROM projection_checkpoints WHERE name = 'search_v1'").Scan(&cp, &applied); err != nil {
		t.Fatal(err)
	}
	if cp != 57 || applied != 9 {
		t.Fatalf("search_v1 checkpoint = %d (%d applied), want posts_v1's 57 (9)", cp, applied)
	}
	var hasColumn bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
		WHERE attrelid = 'posts'::regclass AND attname = 'search' AND NOT attisdropped)`).Scan(&hasColumn); err != nil {
		t.Fatal(err)
	}
	if hasColumn {
		t.Fatal("posts still has its search column")
	}

	// A fresh database: post_search empty, no search_v1 row made up.
	fresh, _ := pgtest.NewPool(t)
	if err := Migrate(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	var rows, cps int
	if err := fresh.QueryRow(ctx, "SELECT (SELECT count(*) FROM post_search), (SELECT count(*) FROM projection_checkpoints)").Scan(&rows, &cps); err != nil {
		t.Fatal(err)
	}
	if rows != 0 || cps != 0 {
		t.Fatalf("fresh database: %d post_search rows, %d checkpoints", rows, cps)
	}
}
