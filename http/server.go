// Package httpapi is Palimpsest's native HTTP API on Gin (API.md): JSON
// under /api/v1, RFC 9457 problem responses mapped from domain error kinds in
// one table, JWT access tokens with rotating refresh tokens, browser cookie
// sessions with CSRF protection, idempotency keys, read-your-writes via
// X-Min-Position, Prometheus metrics and an OpenAPI 3.1 description.
//
// Security decisions worth knowing:
//   - Access tokens are HS256 JWTs (algorithm allow-list, issuer, audience,
//     expiry and iat required). Every request checks the account through a
//     short per-node cache (Config.UserCacheTTL, default 5 s; the node that
//     makes a change forgets the account at once): a deactivation or a role
//     change takes effect within that time, whatever the token's role claim
//     (the role at sign-in or the last refresh, for clients to read) says.
//   - Refresh tokens are 32 random bytes, stored only as SHA-256 hashes,
//     rotated on every use; presenting a used one revokes its whole family.
//     A family is one sign-in, and its access tokens carry its ID ("sid"):
//     signing out, a password change (every other sign-in of the account,
//     also when changed in the web UI), deactivation and reuse detection
//     revoke families, and their access tokens stop working within
//     Config.UserCacheTTL too, not only when they expire.
//   - Failed sign-ins are limited by in-memory token buckets per account and
//     per client IP, registrations per client IP (package ratelimit; per
//     node, N nodes allow N times the budget). The web UI shares the buckets
//     when given the same Limiter.
//   - Browser sessions (request header "X-Session: cookie") get HttpOnly
//     cookies and a double-submit CSRF token; bodies are JSON only, so
//     cross-site form posts are refused (415) before any CSRF check.
//   - Idempotency-Key works on every POST except /api/v1/auth/*, whose
//     responses carry fresh credentials that must never be stored.
package httpapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/http/ratelimit"
	"github.com/palimpsest-cms/palimpsest/http/readcache"
	"github.com/palimpsest-cms/palimpsest/media"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// Waiter blocks until the named projections have applied the global log up
// to pos (projections.Waiter satisfies it).
type Waiter interface {
	WaitFor(ctx context.Context, pos eventstore.Position, names ...string) error
}

// ReadModels names the projections each group of endpoints reads, for
// X-Min-Position waits.
type ReadModels struct {
	Posts   string // posts, tags
	History string // post_revisions, post_history
	Users   string // users
	Audit   string // audit_log
	Media   string // media: the library, and the renditions of feature images and avatars that post and user responses include
	Search  string // post_search: the full-text vectors a post list with q searches
}

// DefaultReadModels are the projection names of this build.
var DefaultReadModels = ReadModels{Posts: "posts_v1", History: "post_history_v1", Users: "users_v1", Audit: "audit_v1",
	Media: "media_v1", Search: "search_v1"}

// LoginLimits bounds failed sign-ins (per account and per client IP) and
// registrations (per client IP). Limits are token buckets kept in memory per
// node: with N nodes behind a load balancer an attacker gets at most N times
// the budget. See ratelimit.Limits for the fields and their defaults.
type LoginLimits = ratelimit.Limits

// Config configures the HTTP server.
type Config struct {
	// Commands executes every change. Required.
	Commands *commands.Handler
	// Reader answers queries from the read tables. Required.
	Reader Reader
	// Waiter gives read-your-writes for X-Min-Position. Required.
	Waiter Waiter
	// Store is read directly for the global log endpoint and readiness. Required.
	Store eventstore.Store
	// Projections reports projection status for /api/v1/projections and
	// /readyz. Required.
	Projections ProjectionStatusSource
	// Pool holds the auth tables (signing key, refresh tokens, idempotency
	// keys) and is pinged by /readyz. Required.
	Pool *pgxpool.Pool
	// JWTSecret signs access tokens (HS256). Empty means: generate 32 random
	// bytes once and keep them in the database. At least 32 bytes when set.
	JWTSecret []byte
	// AccessTTL is the lifetime of access tokens (default 15 minutes).
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of refresh tokens (default 30 days).
	RefreshTTL time.Duration
	// Issuer and Audience go into and are required from access tokens
	// (defaults "palimpsest" and "palimpsest-api").
	Issuer, Audience string
	// CORSOrigins lists the browser origins allowed to call the API
	// cross-origin (exact scheme://host[:port]); empty allows none.
	CORSOrigins []string
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MinPositionTimeout bounds X-Min-Position waits (default 3 s).
	MinPositionTimeout time.Duration
	// UserCacheTTL is how long the checks behind an access token (the
	// account's state and role, whether its sign-in is still open) are
	// cached per node (default 5 s): a deactivation, role change or
	// sign-out made on another node reaches a token at most this long later.
	UserCacheTTL time.Duration
	// Logger receives access logs and internal errors (default slog.Default()).
	Logger *slog.Logger
	// Registry receives the HTTP metrics (default: a fresh registry).
	Registry prometheus.Registerer
	// Gatherer is served on /metrics (default: Registry when it is also a
	// Gatherer, else prometheus.DefaultGatherer).
	Gatherer prometheus.Gatherer
	// SecureCookies marks session cookies Secure even on plain HTTP (set it
	// behind a TLS-terminating proxy). Cookies are always Secure over TLS.
	SecureCookies bool
	// TrustedProxies are the proxy addresses whose X-Forwarded-For is
	// believed for client IPs (rate limiting, logs); empty trusts none.
	TrustedProxies []string
	// Login limits failed sign-ins and registrations; ignored when Limiter
	// is set.
	Login LoginLimits
	// Limiter counts failed sign-ins and registrations. Share one per
	// process with the web UI (web.Config.Limiter) so both draw on the same
	// budgets. Nil means a limiter of its own built from Login.
	Limiter *ratelimit.Limiter
	// ReadModels names the projections waited for (default DefaultReadModels).
	ReadModels ReadModels
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Blobs holds the media renditions served at
	// /media/{hash}/{rendition}.{ext} (the store Commands' media
	// configuration writes to). Nil answers those requests 404.
	Blobs media.BlobStore
	// Media reads the media library (default: Reader, when it implements
	// queries.MediaFinder). Nil answers the library endpoints 503.
	Media queries.MediaFinder
	// MediaMaxBytes is the largest media upload in bytes (default
	// media.DefaultMaxBytes); keep it equal to the commands' media limit.
	// Upload bodies may exceed it by the multipart overhead only.
	MediaMaxBytes int64
	// Generations tells the public response cache when the read models
	// may have changed (default: Waiter, when it implements
	// readcache.Generationer as *projections.Waiter does). Nil disables
	// the cache. See cache.go.
	Generations readcache.Generationer
	// PublicCacheTTL bounds how long a cached public response (the post
	// list, a published post, the tags, for callers who see only published
	// posts) is served while no projection commit is announced (default
	// 5 s). Negative disables the cache.
	PublicCacheTTL time.Duration
	// PublicCacheMaxBytes caps the memory of the public response cache
	// (default 32 MiB).
	PublicCacheMaxBytes int
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.Commands == nil {
		errs = append(errs, errors.New("commands handler is nil"))
	}
	if c.Reader == nil {
		errs = append(errs, errors.New("reader is nil"))
	}
	if c.Waiter == nil {
		errs = append(errs, errors.New("waiter is nil"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("event store is nil"))
	}
	if c.Projections == nil {
		errs = append(errs, errors.New("projection status source is nil"))
	}
	if c.Pool == nil {
		errs = append(errs, errors.New("database pool is nil"))
	}
	if len(c.JWTSecret) > 0 && len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("JWT secret must be at least 32 bytes"))
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = 15 * time.Minute
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = 30 * 24 * time.Hour
	}
	if c.AccessTTL < 0 || c.RefreshTTL < 0 || c.AccessTTL > c.RefreshTTL {
		errs = append(errs, errors.New("token TTLs must be positive and the access TTL at most the refresh TTL"))
	}
	if c.Issuer == "" {
		c.Issuer = "palimpsest"
	}
	if c.Audience == "" {
		c.Audience = "palimpsest-api"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("max body bytes must be positive"))
	}
	if c.MinPositionTimeout == 0 {
		c.MinPositionTimeout = 3 * time.Second
	}
	if c.UserCacheTTL == 0 {
		c.UserCacheTTL = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Gatherer == nil {
		if g, ok := c.Registry.(prometheus.Gatherer); ok {
			c.Gatherer = g
		} else {
			c.Gatherer = prometheus.DefaultGatherer
		}
	}
	if c.Limiter == nil {
		if err := c.Login.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ReadModels == (ReadModels{}) {
		c.ReadModels = DefaultReadModels
	}
	if c.ReadModels.Media == "" {
		c.ReadModels.Media = DefaultReadModels.Media
	}
	if c.ReadModels.Search == "" {
		c.ReadModels.Search = DefaultReadModels.Search
	}
	if c.Media == nil {
		if mf, ok := c.Reader.(queries.MediaFinder); ok {
			c.Media = mf
		}
	}
	if c.MediaMaxBytes == 0 {
		c.MediaMaxBytes = media.DefaultMaxBytes
	}
	if c.MediaMaxBytes < 0 {
		errs = append(errs, errors.New("media max bytes must be positive"))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Generations == nil {
		if g, ok := c.Waiter.(readcache.Generationer); ok {
			c.Generations = g
		}
	}
	if c.PublicCacheTTL == 0 {
		c.PublicCacheTTL = 5 * time.Second
	}
	if c.PublicCacheMaxBytes == 0 {
		c.PublicCacheMaxBytes = 32 << 20
	}
	if c.PublicCacheMaxBytes < 0 {
		errs = append(errs, errors.New("public cache max bytes must be positive"))
	}
	for _, o := range c.CORSOrigins {
		if o == "" || o == "*" {
			errs = append(errs, fmt.Errorf("CORS origin %q: list exact origins", o))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("http config: %w", err)
	}
	return nil
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	engine  *gin.Engine
	auth    *postgres.AuthStore
	tokens  *tokenIssuer
	limiter *ratelimit.Limiter
	users   *shortCache[*domain.User]
	// sessions caches whether a refresh family (an access token's sign-in)
	// is still open.
	sessions *shortCache[bool]
	metrics  *httpMetrics
	cors     map[string]bool
	// public caches responses every publicViewer gets (cache.go); nil
	// when disabled.
	public *readcache.Cache[encodedResponse]
	// lastPurge is when expired auth rows were last purged (Unix ns).
	lastPurge atomic.Int64
}

// New builds the server: it validates cfg, loads or creates the signing key
// and registers the routes and metrics.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		auth:     postgres.NewAuthStore(cfg.Pool),
		limiter:  cfg.Limiter,
		users:    newShortCache[*domain.User](cfg.UserCacheTTL, cfg.Now),
		sessions: newShortCache[bool](cfg.UserCacheTTL, cfg.Now),
		cors:     make(map[string]bool, len(cfg.CORSOrigins)),
	}
	for _, o := range cfg.CORSOrigins {
		s.cors[o] = true
	}
	if s.limiter == nil {
		l, err := ratelimit.New(cfg.Login, cfg.Now)
		if err != nil {
			return nil, fmt.Errorf("new http server: %w", err)
		}
		s.limiter = l
	}
	key := cfg.JWTSecret
	if len(key) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		key, err = s.auth.SigningKey(ctx, "jwt-hs256", func() ([]byte, error) {
			b := make([]byte, 32)
			_, err := rand.Read(b)
			return b, err
		})
		if err != nil {
			return nil, fmt.Errorf("new http server: %w", err)
		}
	}
	s.tokens = &tokenIssuer{key: key, issuer: cfg.Issuer, audience: cfg.Audience, ttl: cfg.AccessTTL, now: cfg.Now}
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("new http server: %w", err)
	}
	s.metrics = m
	if s.public, err = newPublicCache(cfg); err != nil {
		return nil, fmt.Errorf("new http server: %w", err)
	}
	if err := s.routes(); err != nil {
		return nil, fmt.Errorf("new http server: %w", err)
	}
	return s, nil
}

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.engine }

// Routes lists the registered method and path templates (Gin syntax), for
// tests and documentation checks.
func (s *Server) Routes() []gin.RouteInfo { return s.engine.Routes() }
