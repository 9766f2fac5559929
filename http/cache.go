package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/http/readcache"
)

// Public reads (the post list, one post, the tags) are the hot path of the
// API. Every caller who sees only published posts (publicViewer) gets the
// same response for the same URL, so those responses are kept encoded in a
// readcache.Cache, keyed by the canonical request and dropped whenever a
// projection announces a commit (Config.Generations) or after
// Config.PublicCacheTTL. Responses that depend on the caller (authors see
// their drafts, editors, auditors and admins everything) never go through
// it. Pages of a post's revisions share it too: they are the same for
// everyone allowed to read the post's history, and are looked up only after
// that check (listRevisions).
//
// Every response of these endpoints carries an ETag and answers a matching
// If-None-Match with 304. Lists and tags use a hash of the body. A post
// uses its version, as API.md prescribes for If-Match: it moves with every
// event of the post (a new feature image included), but not when other
// projections change what the post embeds (its author's display name, the
// renditions of its image), so a client revalidating with it keeps such
// details until the post itself changes. Cache-Control is "no-cache":
// clients may keep the body but must revalidate, since it changes whenever
// a post does; responses that differ by caller are also "private". Vary
// names the credentials the response depends on.

const (
	cacheControlShared  = "no-cache"
	cacheControlPrivate = "private, no-cache"
	varyCredentials     = "Authorization, Cookie"
	jsonContentType     = "application/json; charset=utf-8"
)

// encodedResponse is a JSON body ready to send, with its entity tag.
type encodedResponse struct {
	body []byte
	etag string // quoted
}

func (r encodedResponse) size() int { return len(r.body) + len(r.etag) }

// encodeJSON encodes v the way c.JSON does and tags it: etag when given,
// else a hash of the body.
func encodeJSON(v any, etag string) (encodedResponse, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return encodedResponse{}, fmt.Errorf("encode response: %w", err)
	}
	if etag == "" {
		sum := sha256.Sum256(b)
		etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	}
	return encodedResponse{body: b, etag: etag}, nil
}

// publicViewer reports whether a sees exactly what anonymous callers see on
// the post and tag endpoints (canSee, listPosts): anonymous callers, and
// signed-in callers whose role neither reads every post nor writes posts
// (readers). Such callers can share cached responses.
func publicViewer(a domain.Actor) bool {
	return a.Anonymous() || (!a.Role.CanReadAll() && !a.Role.CanWritePosts())
}

// cachedRead returns the response for key from the public cache, computing
// it on a miss. Without a cache it just computes.
//
// Callers honour X-Min-Position before calling it, and that order is what
// makes a cached read consistent with the wait: WaitFor returns only after
// the Waiter learned a checkpoint at or past the position, and learning one
// (announced or read from the database) moves the generation
// (projections.Waiter.Generation). The cache reads the generation after the
// wait, so it serves only values computed from rows read after the commit
// of that position, never older ones.
//
// Concurrent misses share one computation, so it runs with the request's
// values but not its cancellation (one client going away must not fail the
// others), bounded by sharedComputeTimeout.
func (s *Server) cachedRead(c *gin.Context, key string, compute func(context.Context) (encodedResponse, error)) (encodedResponse, error) {
	if s.public == nil {
		return compute(c.Request.Context())
	}
	return s.public.Get(key, func() (encodedResponse, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), sharedComputeTimeout)
		defer cancel()
		return compute(ctx)
	})
}

// sharedComputeTimeout bounds a computation of a cached response.
const sharedComputeTimeout = 30 * time.Second

// audience is who may be given a response: it sets the caching headers.
type audience uint8

const (
	// audienceEveryone: the response does not depend on the caller (tags).
	audienceEveryone audience = iota
	// audiencePublic: every publicViewer gets this response, other
	// callers may get another one.
	audiencePublic
	// audiencePrivate: the response depends on the caller's account.
	audiencePrivate
)

// writeEncoded sends r (or 304 when the request's If-None-Match matches
// it) with the caching headers of its audience.
func writeEncoded(c *gin.Context, r encodedResponse, to audience) {
	h := c.Writer.Header()
	h.Set("ETag", r.etag)
	if to == audiencePrivate {
		h.Set("Cache-Control", cacheControlPrivate)
	} else {
		h.Set("Cache-Control", cacheControlShared)
	}
	if to != audienceEveryone {
		h.Add("Vary", varyCredentials)
	}
	if noneMatch(c.Request.Header.Values("If-None-Match"), r.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, jsonContentType, r.body)
}

// noneMatch reports whether an If-None-Match header (all its field lines)
// matches etag by the weak comparison RFC 9110 §13.1.2 prescribes for it.
func noneMatch(header []string, etag string) bool {
	etag = strings.TrimPrefix(etag, "W/")
	for _, line := range header {
		for line != "" {
			var t string
			t, line, _ = strings.Cut(line, ",")
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// cacheKey returns an unambiguous key of an endpoint and its parameters.
func cacheKey(endpoint string, params ...string) string {
	var b strings.Builder
	b.WriteString(endpoint)
	for _, p := range params {
		b.WriteByte('&')
		b.WriteString(url.QueryEscape(p))
	}
	return b.String()
}

// newPublicCache builds the public read cache and its metrics, or returns
// nil when cfg disables it or names no generation source.
func newPublicCache(cfg Config) (*readcache.Cache[encodedResponse], error) {
	if cfg.PublicCacheTTL < 0 || cfg.Generations == nil {
		return nil, nil
	}
	cache := readcache.New(readcache.Config{Source: cfg.Generations, TTL: cfg.PublicCacheTTL, MaxBytes: cfg.PublicCacheMaxBytes},
		encodedResponse.size)
	stat := func(pick func(hits, misses uint64, bytes int) float64) func() float64 {
		return func() float64 { return pick(cache.Stats()) }
	}
	collectors := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "palimpsest", Subsystem: "http", Name: "public_cache_hits_total",
			Help: "Public API reads (posts, tags) answered from the response cache."},
			stat(func(h, _ uint64, _ int) float64 { return float64(h) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "palimpsest", Subsystem: "http", Name: "public_cache_misses_total",
			Help: "Public API reads (posts, tags) that found no fresh cached response."},
			stat(func(_, m uint64, _ int) float64 { return float64(m) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "palimpsest", Subsystem: "http", Name: "public_cache_bytes",
			Help: "Bytes of responses held by the public API response cache."},
			stat(func(_, _ uint64, b int) float64 { return float64(b) })),
	}
	for _, col := range collectors {
		if err := cfg.Registry.Register(col); err != nil {
			return nil, fmt.Errorf("register public cache metrics: %w", err)
		}
	}
	return cache, nil
}
