package main

import (
	"context"
	"fmt"

	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/eventstore/esdb"
	pgstore "github.com/palimpsest-cms/palimpsest/eventstore/postgres"
)

// openStore opens the event store the configuration names: EventStoreDB when
// Config.EventStoreURL is set, else the PostgreSQL event store in
// Config.DatabaseURL (its schema is applied by `cms migrate`, and again
// here, idempotently, so a fresh database works too). The returned function
// closes the store.
func openStore(ctx context.Context, env *Env) (eventstore.Store, func(), error) {
	limits := eventstore.Options{MaxEventBytes: env.Config.MaxEventBytes}
	if url := env.Config.EventStoreURL; url != "" {
		s, err := esdb.Open(ctx, url, esdb.Options{Options: limits, Logger: env.Log})
		if err != nil {
			return nil, nil, fmt.Errorf("open EventStoreDB event store: %w", err)
		}
		return s, func() { _ = s.Close() }, nil
	}
	s, err := pgstore.Open(ctx, env.Config.DatabaseURL, pgstore.Options{Options: limits})
	if err != nil {
		return nil, nil, fmt.Errorf("open PostgreSQL event store: %w", err)
	}
	return s, func() { _ = s.Close() }, nil
}
