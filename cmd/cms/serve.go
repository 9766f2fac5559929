package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/palimpsest-cms/palimpsest/commands"
	httpapi "github.com/palimpsest-cms/palimpsest/http"
	"github.com/palimpsest-cms/palimpsest/http/ratelimit"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/projections"
	"github.com/palimpsest-cms/palimpsest/scheduler"
)

// serveFlags are the flags only `cms serve` has.
type serveFlags struct {
	http, projections, scheduler bool
	corsOrigins                  string
	secureCookies                bool
	trustedProxies               string
	baseURL                      string
	publicCacheTTL               time.Duration
}

var serveOpts serveFlags

func init() {
	register("serve", "run the HTTP server, the projections and the scheduler", runServe)
	subcommandFlags["serve"] = func(fs *flag.FlagSet) {
		fs.BoolVar(&serveOpts.http, "http", true, "serve HTTP on -addr")
		fs.BoolVar(&serveOpts.projections, "projections", true, "run the projection runtime (leader-elected per projection)")
		fs.BoolVar(&serveOpts.scheduler, "scheduler", true, "run the publishing scheduler (leader-elected)")
		fs.StringVar(&serveOpts.corsOrigins, "cors-origins", os.Getenv("CMS_CORS_ORIGINS"), "comma-separated browser origins allowed to call the API (env CMS_CORS_ORIGINS)")
		fs.BoolVar(&serveOpts.secureCookies, "secure-cookies", os.Getenv("CMS_SECURE_COOKIES") == "true", "mark cookies Secure even on plain HTTP, behind a TLS proxy (env CMS_SECURE_COOKIES)")
		fs.StringVar(&serveOpts.baseURL, "base-url", os.Getenv("CMS_BASE_URL"), "absolute URL of the public site, for feeds and the sitemap (env CMS_BASE_URL)")
		fs.StringVar(&serveOpts.trustedProxies, "trusted-proxies", os.Getenv("CMS_TRUSTED_PROXIES"), "comma-separated proxy addresses whose X-Forwarded-For is trusted (env CMS_TRUSTED_PROXIES)")
		fs.DurationVar(&serveOpts.publicCacheTTL, "public-cache-ttl", envDuration("CMS_PUBLIC_CACHE_TTL", 5*time.Second), "longest time a cached public response (API posts and tags, public site pages) is served while no projection commits; negative disables the caches (env CMS_PUBLIC_CACHE_TTL)")
	}
}

// runServe migrates, then runs the selected components until ctx ends, and
// shuts them down gracefully within Config.ShutdownTimeout.
func runServe(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		fmt.Fprintln(env.Stderr, "usage: cms serve [-http] [-projections] [-scheduler] [flags]")
		return errUsage
	}
	o := serveOpts
	if !o.http && !o.projections && !o.scheduler {
		return errors.New("nothing to run: enable at least one of -http, -projections, -scheduler")
	}
	secret, err := jwtSecretFromEnv()
	if err != nil {
		return err
	}

	// The same steps as `cms migrate`, so a fresh machine needs one command.
	if err := runMigrate(ctx, env, nil); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	pool, err := postgres.Open(ctx, env.Config.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, closeStore, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeStore()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := projections.NewMetrics(reg)
	if err != nil {
		return err
	}
	runtime, err := projections.NewRuntime(projections.Config{
		Pool: pool, Store: store, Projections: projections.All(), Logger: env.Log, Metrics: metrics,
	})
	if err != nil {
		return err
	}
	mediaCfg, blobs, err := mediaConfig(env, pool)
	if err != nil {
		return err
	}
	cmds, err := commands.New(commands.Config{Store: store, Media: mediaCfg})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	start := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}

	if o.projections {
		start("projections", runtime.Run)
	}
	if o.scheduler {
		sched, err := scheduler.New(scheduler.Config{Pool: pool, Publisher: cmds, Logger: env.Log})
		if err != nil {
			return err
		}
		start("scheduler", sched.Run)
	}
	if o.http {
		waiter := projections.NewWaiter(pool, env.Log)
		defer waiter.Close()
		// One limiter for the API and the UI: sign-in failures and sign-ups
		// draw on the same budgets whichever door they use.
		limiter, err := ratelimit.New(ratelimit.Limits{}, nil)
		if err != nil {
			return err
		}
		api, err := httpapi.New(httpapi.Config{
			Commands:       cmds,
			Reader:         postgres.NewReader(pool),
			Waiter:         waiter,
			Store:          store,
			Projections:    runtime,
			Pool:           pool,
			JWTSecret:      secret,
			CORSOrigins:    splitList(o.corsOrigins),
			SecureCookies:  o.secureCookies,
			TrustedProxies: splitList(o.trustedProxies),
			Logger:         env.Log,
			Registry:       reg,
			Gatherer:       reg,
			Blobs:          blobs,
			MediaMaxBytes:  mediaCfg.Limits.MaxBytes,
			Limiter:        limiter,
			PublicCacheTTL: o.publicCacheTTL,
		})
		if err != nil {
			return err
		}
		handler, err := withWebUI(ctx, env, api, cmds, pool, waiter, runtime, limiter)
		if err != nil {
			return err
		}
		srv := &http.Server{
			Addr:              env.Config.Addr,
			Handler:           handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       60 * time.Second, // media uploads
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
		}
		ln, err := net.Listen("tcp", env.Config.Addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", env.Config.Addr, err)
		}
		env.Log.Info("serving", "addr", "http://"+ln.Addr().String(), "eventstore", storeKind(env), "projections", o.projections, "scheduler", o.scheduler)
		start("http", func(ctx context.Context) error {
			errs := make(chan error, 1)
			go func() { errs <- srv.Serve(ln) }()
			select {
			case err := <-errs:
				return err
			case <-ctx.Done():
			}
			sctx, scancel := context.WithTimeout(context.Background(), env.Config.ShutdownTimeout)
			defer scancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("graceful shutdown: %w", err)
			}
			return nil
		})
	}

	<-ctx.Done()
	env.Log.Info("shutting down")
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// jwtSecretFromEnv reads CMS_JWT_SECRET (hex, base64 or raw, at least 32
// bytes). Empty means the HTTP layer generates one and keeps it in the database.
func jwtSecretFromEnv() ([]byte, error) {
	v := strings.TrimSpace(os.Getenv("CMS_JWT_SECRET"))
	if v == "" {
		return nil, nil
	}
	if b, err := hex.DecodeString(v); err == nil && len(b) >= 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(v); err == nil && len(b) >= 32 {
		return b, nil
	}
	if len(v) >= 32 {
		return []byte(v), nil
	}
	return nil, errors.New("CMS_JWT_SECRET must hold at least 32 bytes (hex, base64 or raw)")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func storeKind(env *Env) string {
	if env.Config.EventStoreURL != "" {
		return "eventstoredb"
	}
	return "postgres"
}
