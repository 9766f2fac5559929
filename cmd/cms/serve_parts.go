package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/commands"
	httpapi "github.com/palimpsest-cms/palimpsest/http"
	"github.com/palimpsest-cms/palimpsest/http/ratelimit"
	"github.com/palimpsest-cms/palimpsest/http/web"
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

// withWebUI puts the server-rendered site and admin UI next to the JSON API:
// /api/…, /healthz, /readyz, /metrics and /media/… go to the API engine,
// everything else to the UI engine. UI sessions are signed with their own
// key, generated once and kept in the database like the JWT key, so every
// node and every restart accepts the same cookies. limiter is the API's, so
// sign-in failures and sign-ups share their budgets across both.
func withWebUI(ctx context.Context, env *Env, api *httpapi.Server, cmds *commands.Handler, pool *pgxpool.Pool, waiter *projections.Waiter, rt *projections.Runtime, limiter *ratelimit.Limiter) (http.Handler, error) {
	key, err := postgres.NewAuthStore(pool).SigningKey(ctx, "web-session", func() ([]byte, error) {
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("web session key: %w", err)
	}
	// UI sign-ins are also kept with the API's (Store), so signing out
	// ends them for good, and a password change or deactivation ends both.
	sessions, err := web.NewCookieSessions(web.CookieSessionsConfig{Key: key, Users: cmds.LoadUser, Store: api, Secure: serveOpts.secureCookies})
	if err != nil {
		return nil, err
	}
	baseURL := serveOpts.baseURL
	if baseURL == "" {
		baseURL = "http://" + env.Config.Addr
	}
	reader := postgres.NewReader(pool)
	ui, err := web.New(web.Config{
		Commands:         cmds,
		Reader:           reader,
		Media:            reader,
		Waiter:           waiter,
		Sessions:         sessions,
		ProjectionStatus: rt.Status,
		Logger:           env.Log,
		BaseURL:          baseURL,
		SecureCookies:    serveOpts.secureCookies,
		Limiter:          limiter,
		// A password changed in the UI ends the account's API sessions too.
		EndSessions: func(ctx context.Context, userID string) error {
			return api.EndUserSessions(ctx, userID, uuid.Nil)
		},
		// The anonymous public pages and the history views are cached
		// until a projection commits (waiter's generation), like the
		// API's public responses, under the same TTL knob.
		PublicCacheTTL: serveOpts.publicCacheTTL,
	})
	if err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	site := gin.New()
	site.RedirectTrailingSlash = false
	// Client IPs feed the rate limits: believe X-Forwarded-For only from
	// the configured proxies, as the API engine does (gin trusts all by
	// default).
	if err := site.SetTrustedProxies(splitList(serveOpts.trustedProxies)); err != nil {
		return nil, fmt.Errorf("web trusted proxies: %w", err)
	}
	ui.Register(site)
	site.NoRoute(ui.NotFound)

	apiHandler := api.Handler()
	mux := http.NewServeMux()
	for _, p := range []string{"/api/", "/healthz", "/readyz", "/metrics", "/media/"} {
		mux.Handle(p, apiHandler)
	}
	mux.Handle("/", site)
	return mux, nil
}
