package main

import (
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/commands"
	httpapi "github.com/palimpsest-cms/palimpsest/http"
	"github.com/palimpsest-cms/palimpsest/media"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/projections"
)

// mediaConfig builds the media commands' configuration: blobs in
// Config.MediaDir, the configured limits, and the posts read model as the
// "is it in use by a published post" check.
func mediaConfig(env *Env, pool *pgxpool.Pool) (commands.MediaConfig, media.BlobStore, error) {
	blobs, err := media.NewFSStore(env.Config.MediaDir)
	if err != nil {
		return commands.MediaConfig{}, nil, fmt.Errorf("media store: %w", err)
	}
	return commands.MediaConfig{
		Blobs:  blobs,
		Limits: media.Limits{MaxBytes: env.Config.MediaMaxBytes, MaxPixels: env.Config.MediaMaxPixels},
		Usage:  postgres.NewReader(pool),
	}, blobs, nil
}

// withWebUI is wired when the web UI lands (coordinator: temporary).
func withWebUI(env *Env, api *httpapi.Server, cmds *commands.Handler, pool *pgxpool.Pool, waiter *projections.Waiter, rt *projections.Runtime) (http.Handler, error) {
	return api.Handler(), nil
}
