package web

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/http/readcache"
)

// The public pages (home, tag and author lists, published posts, the feed
// and the sitemap) are the hot path of the site, and every anonymous visitor
// of a URL gets the same page. Their rendered bodies are kept in a
// readcache.Cache keyed by the canonical URL (the path and the only query
// parameter these pages read, cursor), and dropped whenever a projection
// announces a commit (Config.Generations) or after Config.PublicCacheTTL.
// History views (history.go) are cached the same way, keyed by post and page.
//
// What must never be shared:
//   - Pages of signed-in visitors: their navbar names them, carries the
//     sign-out form's CSRF token, and may link drafts. They are rendered per
//     request and never stored. A visitor counts as signed in when the
//     session middleware resolved an actor, so a stale or forged session
//     cookie gets the anonymous page, the one it would be rendered anyway.
//   - Per-visitor secrets: the anonymous layout holds no CSRF token (only
//     the signed-in navbar has a form) and no nonce (the CSP allows scripts
//     and styles from this origin only, no inline code). The CSRF cookie a
//     new visitor is issued is a response header, set by the csrf
//     middleware before the handler runs, never part of the cached body.
//   - Flash messages (?msg=…): a page carrying one is rendered per request.
//
// Never a stale page after a save: every change made through the UI waits
// for the projections to reach its position before redirecting (UI.wait)
// and then moves the generation of these caches (pageGenerations.wrote),
// however the Waiter learned the position (from the announcement, which
// moves the read models' generation too, or from the checkpoint table).
// So a page cached before the commit, stored under an older generation, is
// no longer served, and neither is a page whose computation began before
// the commit: it is stored under the generation read before it began (see
// readcache). Changes made elsewhere (the API, another node) reach these
// caches with their announcement, as they reach every read: within the
// projection lag, and at most a TTL late while the listener is cut off.

// publicBuildTimeout bounds the computation of a cached page. It runs
// detached from the request that started it, because concurrent requests
// for the same page wait for it too.
const publicBuildTimeout = 10 * time.Second

// pageGenerations is the generation of the page caches: the read
// models' generation plus the number of waits for the UI's own writes. Both
// only grow, so the sum changes whenever either does.
type pageGenerations struct {
	src    readcache.Generationer
	writes atomic.Uint64
}

// Generation implements readcache.Generationer.
func (g *pageGenerations) Generation() uint64 { return g.src.Generation() + g.writes.Load() }

// wrote records that a change made through the UI has been projected.
func (g *pageGenerations) wrote() { g.writes.Add(1) }

// historyCacheBytes caps the memory of the history fragment cache.
const historyCacheBytes = 16 << 20

// newCaches sets up the public page cache and the history fragment cache
// of ui, unless cfg disables them.
func (ui *UI) newCaches(cfg Config) {
	if cfg.Generations == nil || cfg.PublicCacheTTL < 0 {
		return
	}
	ui.gens = &pageGenerations{src: cfg.Generations}
	ui.public = readcache.New(readcache.Config{Source: ui.gens, TTL: cfg.PublicCacheTTL, MaxBytes: cfg.PublicCacheMaxBytes},
		func(b []byte) int { return len(b) })
	ui.histories = readcache.New(readcache.Config{Source: ui.gens, TTL: cfg.PublicCacheTTL, MaxBytes: historyCacheBytes},
		(*historyView).size)
}

// pageBuilder computes a page: the name of its template and its data.
type pageBuilder func(ctx context.Context) (name string, p *page, err error)

// publicKey returns the cache key of an anonymous public page request, or
// false when the response must be rendered for this request alone.
func (ui *UI) publicKey(c *gin.Context) (string, bool) {
	if ui.public == nil || c.Request.Method != http.MethodGet || !actorOf(c).Anonymous() || c.Query("msg") != "" {
		return "", false
	}
	return canonicalURL(c), true
}

// canonicalURL is the path of c's request with the one query parameter
// public pages read (cursor), so that other parameters neither change the
// page nor multiply the cache entries.
func canonicalURL(c *gin.Context) string {
	key := "page " + c.Request.URL.Path
	if cur := c.Query("cursor"); cur != "" {
		key += "?" + url.Values{"cursor": {cur}}.Encode()
	}
	return key
}

// servePublic serves a page that is the same for every anonymous visitor of
// its canonical URL: from the cache for them, rendered afresh for signed-in
// visitors. Errors (not found, invalid cursor…) are never cached.
func (ui *UI) servePublic(c *gin.Context, build pageBuilder) {
	key, ok := ui.publicKey(c)
	if !ok {
		name, p, err := build(c.Request.Context())
		if err != nil {
			ui.fail(c, err)
			return
		}
		ui.render(c, http.StatusOK, name, p)
		return
	}
	body, err := ui.public.Get(key, func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), publicBuildTimeout)
		defer cancel()
		name, p, err := build(ctx)
		if err != nil {
			return nil, err
		}
		return ui.renderBytes(name, http.StatusOK, p)
	})
	if err != nil {
		ui.fail(c, err)
		return
	}
	ui.writeHTML(c, http.StatusOK, body)
}

// serveDocument serves a document that is the same for every visitor (the
// feed, the sitemap), from the cache when there is one.
func (ui *UI) serveDocument(c *gin.Context, contentType string, build func(ctx context.Context) ([]byte, error)) {
	var body []byte
	var err error
	if ui.public == nil {
		body, err = build(c.Request.Context())
	} else {
		body, err = ui.public.Get("doc "+c.Request.URL.Path, func() ([]byte, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), publicBuildTimeout)
			defer cancel()
			return build(ctx)
		})
	}
	if err != nil {
		ui.fail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, contentType, body)
}
