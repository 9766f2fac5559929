package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey is the advisory lock that serializes concurrent Migrate
// calls across processes ("palimpsest.migrate" folded to 63 bits).
const migrationLockKey int64 = 0x70616c6d6d696772 // "palmmigr"

// ErrMigrationChanged reports that an already applied migration file's
// content differs from the recorded checksum.
var ErrMigrationChanged = errors.New("postgres: applied migration changed")

// Migrate applies the embedded postgres/migrations/*.sql files that are not
// yet recorded in schema_migrations, in file-name order, each in its own
// transaction together with its schema_migrations row. Concurrent callers
// (several processes starting at once) are serialized by an advisory lock, so
// every file runs exactly once. A recorded file whose content changed fails
// with ErrMigrationChanged: never edit an applied migration, add a new one.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return migrateFS(ctx, pool, migrationFiles, "migrations")
}

// Migration is one schema migration file.
type Migration struct {
	Version string // file name without ".sql", e.g. "0001_projection_runtime"
	SQL     string
}

// Migrations lists the embedded migrations in the order Migrate applies them.
func Migrations() ([]Migration, error) {
	return readMigrations(migrationFiles, "migrations")
}

func readMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

func checksum(sql string) string {
	sum := sha256.Sum256([]byte(sql))
	return hex.EncodeToString(sum[:])
}

func migrateFS(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, dir string) (err error) {
	ms, err := readMigrations(fsys, dir)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("migrate: take lock: %w", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey); uerr != nil {
			// A broken connection releases the lock anyway; make sure it is not reused.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    text PRIMARY KEY,
		checksum   text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := map[string]string{}
	rows, err := conn.Query(ctx, "SELECT version, checksum FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v, c string
		if err := rows.Scan(&v, &c); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		applied[v] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	for _, m := range ms {
		sum := checksum(m.SQL)
		if got, ok := applied[m.Version]; ok {
			if got != sum {
				return fmt.Errorf("migrate %s: %w (recorded checksum %s, file %s)", m.Version, ErrMigrationChanged, got[:12], sum[:12])
			}
			continue
		}
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: the simple protocol runs a multi-statement file.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", m.Version, sum)
			return err
		}); err != nil {
			return fmt.Errorf("migrate %s: %w", m.Version, err)
		}
	}
	return nil
}
