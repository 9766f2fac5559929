// Package web is Palimpsest's server-rendered user interface: the public
// site (home, posts, tags, authors, search, feed, sitemap), sign-in and
// profile pages, the editor's desk (dashboard, editor, workflow, revision
// history and diffs), the audit pages and the admin pages. Pages are
// html/template layouts parsed once at startup from an embedded file system
// and styled with an embedded copy of Bootstrap 5; every form carries a CSRF
// token and every response carries strict security headers.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/http/ratelimit"
	"github.com/palimpsest-cms/palimpsest/http/readcache"
	"github.com/palimpsest-cms/palimpsest/projections"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// Reader is the read side the UI renders from. *postgres.Reader satisfies it.
type Reader interface {
	ListPosts(ctx context.Context, filter queries.PostFilter) (queries.Page[queries.PostSummary], error)
	GetPost(ctx context.Context, idOrSlug string) (queries.Post, error)
	SeekRevisions(ctx context.Context, postID string, seek queries.Seek) (queries.Window[queries.Revision], error)
	GetRevision(ctx context.Context, postID string, n int) (queries.Revision, error)
	SeekHistory(ctx context.Context, postID string, seek queries.Seek) (queries.Window[queries.HistoryEntry], error)
	ListAudit(ctx context.Context, filter queries.AuditFilter) (queries.Page[queries.AuditEntry], error)
	ListUsers(ctx context.Context, filter queries.UserFilter) (queries.Page[queries.User], error)
	GetUser(ctx context.Context, idOrUsername string) (queries.User, error)
	ListTags(ctx context.Context) ([]queries.Tag, error)
}

// Waiter waits until the projections have caught up with a log position, so
// the page shown after a change shows it. *projections.Waiter satisfies it.
type Waiter interface {
	WaitFor(ctx context.Context, pos eventstore.Position, names ...string) error
}

// Sessions keeps browser sign-ins. CookieSessions is the default
// implementation; the server may plug in the JSON API's token sessions.
type Sessions interface {
	// Actor returns the signed-in actor of r, or false when there is none.
	Actor(r *http.Request) (domain.Actor, bool)
	// SignIn starts a session for user.
	SignIn(w http.ResponseWriter, r *http.Request, user *domain.User) error
	// SignOut ends r's session.
	SignOut(w http.ResponseWriter, r *http.Request) error
}

// ProjectionStatusFunc reports the projections' progress for the admin page
// (e.g. (*projections.Runtime).Status).
type ProjectionStatusFunc func(ctx context.Context) ([]projections.ProjectionStatus, error)

// Config configures the UI.
type Config struct {
	// Commands executes every change. Required.
	Commands *commands.Handler
	// Reader is the read side. Required.
	Reader Reader
	// Waiter makes pages after a change show it. Required.
	Waiter Waiter
	// Sessions keeps sign-ins. Required (see NewCookieSessions).
	Sessions Sessions
	// Media lists the media library (/desk/media); nil hides the library.
	// Uploads and avatars use Commands (its media configuration) and link
	// renditions at /media/{hash}/{rendition}.{ext}, served by the API
	// server (API.md).
	Media MediaReader
	// ProjectionStatus feeds the admin projections page; nil hides it.
	ProjectionStatus ProjectionStatusFunc
	// Logger receives errors behind 500 pages. Default slog.Default().
	Logger *slog.Logger
	// SiteName is shown in the header and the feed. Default "Palimpsest".
	SiteName string
	// BaseURL is the absolute URL of the site (e.g. "https://blog.example")
	// used in the feed and the sitemap. Required.
	BaseURL string
	// SecureCookies forces the Secure flag on cookies even without TLS
	// (behind a TLS-terminating proxy). Cookies are always Secure over TLS.
	SecureCookies bool
	// WaitTimeout bounds the wait for projections after a change. Default 5 s.
	WaitTimeout time.Duration
	// ReadModels names the projections a change waits for before the next
	// page is shown. Default: every read model the pages read (posts,
	// history, users, audit, media). Named, not "whatever checkpoints
	// exist": a projection whose checkpoint row is not written yet (a
	// runtime still starting) counts as behind, not as absent.
	ReadModels []string
	// PageSize is the length of lists. Default 10.
	PageSize int
	// Limiter limits failed sign-ins (per account and per client IP) and
	// sign-ups (per client IP). Pass the JSON API's limiter
	// (httpapi.Config.Limiter) so both draw on the same budgets. Nil means
	// a limiter of its own with the default limits. Client IPs come from
	// gin's Context.ClientIP: set the engine's trusted proxies.
	Limiter *ratelimit.Limiter
	// EndSessions, when set, ends every sign-in of a user kept outside
	// the UI's cookie (the JSON API's, and the UI's own when its sessions
	// have a Store), e.g. with (*httpapi.Server).EndUserSessions. The UI
	// calls it after a password change made here, as a password change
	// through the API does, and for the profile page's "sign out
	// everywhere else", which it offers only when this is set; either way
	// it then signs the browser in again.
	EndSessions func(ctx context.Context, userID string) error
	// Generations tells the page caches when the read models may have
	// changed (default: Waiter, when it implements readcache.Generationer
	// as *projections.Waiter does). Nil disables the caches. See cache.go.
	Generations readcache.Generationer
	// PublicCacheTTL bounds how long a cached public page (home, tag,
	// author and post pages for anonymous visitors; the feed; the sitemap)
	// or history view (the revisions and timeline of a history page, for
	// everyone allowed to see them) is served while no projection commit
	// is announced. Default 5 s; negative disables the caches.
	PublicCacheTTL time.Duration
	// PublicCacheMaxBytes caps the memory of the public page cache.
	// Default 32 MiB.
	PublicCacheMaxBytes int
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	var errs []error
	if c.Commands == nil {
		errs = append(errs, errors.New("Commands is required"))
	}
	if c.Reader == nil {
		errs = append(errs, errors.New("Reader is required"))
	}
	if c.Waiter == nil {
		errs = append(errs, errors.New("Waiter is required"))
	}
	if c.Sessions == nil {
		errs = append(errs, errors.New("Sessions is required"))
	}
	if u, err := url.Parse(c.BaseURL); c.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("BaseURL %q must be an absolute http(s) URL", c.BaseURL))
	}
	if c.WaitTimeout < 0 || c.PageSize < 0 || c.PublicCacheMaxBytes < 0 {
		errs = append(errs, errors.New("WaitTimeout, PageSize and PublicCacheMaxBytes must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("web config: %w", errors.Join(errs...))
	}
	return nil
}

// UI serves the web pages. Build it with New and mount it with Register.
type UI struct {
	cfg     Config
	log     *slog.Logger
	pages   *pageSet
	assets  *assetSet
	limiter *ratelimit.Limiter
	// public caches the pages every anonymous visitor gets and histories
	// the parts of history pages every permitted viewer gets (cache.go),
	// under gens; all nil when disabled.
	public    *readcache.Cache[[]byte]
	histories *readcache.Cache[*historyView]
	gens      *pageGenerations
}

// New returns a UI for cfg, parsing every template and hashing every static
// file once.
func New(cfg Config) (*UI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SiteName == "" {
		cfg.SiteName = "Palimpsest"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = 5 * time.Second
	}
	if cfg.ReadModels == nil {
		cfg.ReadModels = []string{projections.PostsName, projections.HistoryName, projections.UsersName,
			projections.AuditName, projections.MediaName, projections.SearchName}
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 10
	}
	if cfg.Limiter == nil {
		l, err := ratelimit.New(ratelimit.Limits{}, nil)
		if err != nil {
			return nil, fmt.Errorf("new web ui: %w", err)
		}
		cfg.Limiter = l
	}
	if cfg.Generations == nil {
		if g, ok := cfg.Waiter.(readcache.Generationer); ok {
			cfg.Generations = g
		}
	}
	if cfg.PublicCacheTTL == 0 {
		cfg.PublicCacheTTL = 5 * time.Second
	}
	assets, err := newAssetSet()
	if err != nil {
		return nil, fmt.Errorf("new web ui: %w", err)
	}
	ui := &UI{cfg: cfg, log: cfg.Logger, assets: assets, limiter: cfg.Limiter}
	ui.newCaches(cfg)
	pages, err := parsePages(ui.funcs())
	if err != nil {
		return nil, fmt.Errorf("new web ui: %w", err)
	}
	ui.pages = pages
	return ui, nil
}

// Register mounts the pages on r: the public site at /, /posts/…, /tags/…,
// /authors/…, /search, /feed.xml and /sitemap.xml; /signin, /signup,
// /signout and /profile; /desk/…; /audit/…; /admin/…; /static/…. It does not
// touch /api or /healthz. Set NotFound as the engine's NoRoute handler for a
// friendly 404 page outside the API.
func (ui *UI) Register(r gin.IRouter) {
	r.GET("/static/*path", ui.static)
	g := r.Group("/", ui.recoverer, ui.headers, ui.session, ui.csrf)

	g.GET("/", ui.home)
	g.GET("/posts/:slug", ui.post)
	g.GET("/tags/:tag", ui.tag)
	g.GET("/authors/:username", ui.author)
	g.GET("/search", ui.search)
	g.GET("/feed.xml", ui.feed)
	g.GET("/sitemap.xml", ui.sitemap)

	g.GET("/signin", ui.signInForm)
	g.POST("/signin", ui.signIn)
	g.GET("/signup", ui.signUpForm)
	g.POST("/signup", ui.signUp)
	g.POST("/signout", ui.signOut)
	g.GET("/profile", ui.signedIn, ui.profile)
	g.POST("/profile", ui.signedIn, ui.saveProfile)
	g.POST("/profile/password", ui.signedIn, ui.changePassword)
	g.POST("/profile/sessions", ui.signedIn, ui.endOtherSessions)
	g.POST("/profile/avatar", ui.signedIn, ui.uploadAvatar)

	desk := g.Group("/desk", ui.signedIn, ui.requireRole(canUseDesk))
	desk.GET("", ui.dashboard)
	desk.GET("/posts/new", ui.newPost)
	desk.POST("/posts", ui.createPost)
	desk.GET("/posts/:id/edit", ui.editPost)
	desk.POST("/posts/:id", ui.savePost)
	desk.POST("/posts/:id/workflow", ui.workflow)
	desk.GET("/posts/:id/history", ui.history)
	desk.GET("/posts/:id/diff", ui.diff)
	desk.GET("/posts/:id/revisions/:n", ui.revision)
	desk.POST("/posts/:id/revert", ui.revert)
	desk.GET("/posts/:id/at", ui.postAt)
	desk.GET("/media", ui.mediaLibrary)
	desk.POST("/media", ui.uploadMedia)

	audit := g.Group("/audit", ui.signedIn, ui.requireRole(domain.Role.CanAudit))
	audit.GET("", ui.auditLog)
	audit.GET("/export.csv", ui.auditCSV)
	audit.GET("/posts/:id/events", ui.postEvents)

	admin := g.Group("/admin", ui.signedIn, ui.requireRole(domain.Role.CanManageUsers))
	admin.GET("", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/admin/users") })
	admin.GET("/users", ui.users)
	admin.POST("/users/:id/role", ui.changeRole)
	admin.POST("/users/:id/deactivate", ui.deactivate)
	admin.POST("/users/:id/reactivate", ui.reactivate)
	admin.GET("/projections", ui.projectionStatus)
}

// NotFound renders the 404 page; use it as the engine's NoRoute handler for
// paths outside the API.
func (ui *UI) NotFound(c *gin.Context) {
	ui.headers(c)
	ui.session(c)
	token, _ := ui.csrfToken(c)
	c.Set(ctxCSRF, token)
	ui.renderError(c, http.StatusNotFound, "")
}

// canUseDesk reports whether a role may open the editor's desk: writers and
// readers of everything (auditors browse history there).
func canUseDesk(r domain.Role) bool { return r.CanWritePosts() || r.CanReadAll() }
