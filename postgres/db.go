// Package postgres holds Palimpsest's PostgreSQL plumbing: the connection
// pool, the embedded schema migrations and the read-side SQL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaintenanceDatabase is the database Open connects to when it has to create
// the configured one.
const MaintenanceDatabase = "postgres"

// DefaultMaxConns is the size of the pools Open returns unless dsn sets
// pool_max_conns. One pool serves the HTTP handlers, the projection batches
// and the scheduler of a process; pgxpool's own default, max(4, NumCPU),
// made API reads queue behind projection transactions (4 connections on a
// 2-core machine). Connections are opened on demand, so an idle process
// holds few.
const DefaultMaxConns = 16

// Open returns a connection pool for dsn, of at most DefaultMaxConns
// connections unless dsn sets pool_max_conns. When the database named in dsn
// does not exist, Open creates it first, connecting to the
// MaintenanceDatabase of the same server with the same credentials.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: parse url: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	err = pool.Ping(ctx)
	if err == nil {
		return pool, nil
	}
	pool.Close()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return nil, fmt.Errorf("open database %q: %w", cfg.ConnConfig.Database, err)
	}
	if err := createDatabase(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database %q: %w", cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// createDatabase creates the database cc names, tolerating a concurrent creator.
func createDatabase(ctx context.Context, cc *pgx.ConnConfig) error {
	admin := cc.Copy()
	admin.Database = MaintenanceDatabase
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("create database %q: connect to %q: %w", cc.Database, MaintenanceDatabase, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cc.Database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: someone else won
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", cc.Database, err)
	}
	return nil
}
