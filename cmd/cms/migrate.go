package main

import (
	"context"
	"fmt"

	pgstore "github.com/palimpsest-cms/palimpsest/eventstore/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres"
)

func init() {
	register("migrate", "create the database if missing and apply migrations", runMigrate)
}

// runMigrate creates the database when missing, applies the PostgreSQL
// event store's schema (when no EventStoreDB is configured) and the
// read-side migrations. Safe to run concurrently and repeatedly.
func runMigrate(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		fmt.Fprintln(env.Stderr, "usage: cms migrate")
		return errUsage
	}
	pool, err := postgres.Open(ctx, env.Config.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if env.Config.EventStoreURL == "" {
		if err := pgstore.Migrate(ctx, pool); err != nil {
			return fmt.Errorf("event store schema: %w", err)
		}
		env.Log.Info("event store schema up to date")
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		return err
	}
	ms, err := postgres.Migrations()
	if err != nil {
		return err
	}
	env.Log.Info("read-side schema up to date", "migrations", len(ms))
	return nil
}
