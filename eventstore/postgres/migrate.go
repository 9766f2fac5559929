package postgres

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed schema.sql
var schemaSQL string

// migrateLockKey is the advisory lock key that serializes concurrent Migrate
// calls (CREATE ... IF NOT EXISTS is not safe against concurrent creators).
const migrateLockKey = 0x65735f736368656d // "es_schem"

// Migrate creates the event store's tables and functions in the current
// schema of the pool's database. It is idempotent and safe to run
// concurrently from several processes.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLockKey)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schemaSQL)
		return err
	})
	if err != nil {
		return fmt.Errorf("eventstore/postgres: migrate: %w", err)
	}
	return nil
}
