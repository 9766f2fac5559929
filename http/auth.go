package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/postgres"
)

// Cookie names of browser sessions.
const (
	accessCookie  = "palimpsest_access"
	refreshCookie = "palimpsest_refresh"
	csrfCookie    = "palimpsest_csrf"
	// csrfHeader carries the double-submitted CSRF token.
	csrfHeader = "X-CSRF-Token"
	// csrfFormField carries it in HTML form posts.
	csrfFormField = "_csrf"
	// sessionHeader asks login/register/refresh for a cookie session.
	sessionHeader = "X-Session"
	// refreshCookiePath is the refresh cookie's path: the whole site, so the
	// web UI's session middleware can renew expired access tokens (the
	// cookie is HttpOnly and SameSite=Strict).
	refreshCookiePath = "/"
)

// accessClaims are the claims of an access token.
type accessClaims struct {
	Role domain.Role `json:"role"`
	// SessionID is the refresh-token family the token was issued with: one
	// sign-in. Once the family is revoked (sign-out, password change,
	// deactivation, a reused refresh token) its access tokens are refused
	// too, not only its refresh tokens.
	SessionID string `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

// tokenIssuer signs and verifies HS256 access tokens.
type tokenIssuer struct {
	key      []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// issue returns a signed access token for user in session (its refresh
// family) and its expiry.
func (t *tokenIssuer) issue(user *domain.User, session uuid.UUID) (string, time.Time, error) {
	now := t.now().UTC().Truncate(time.Second)
	exp := now.Add(t.ttl)
	claims := accessClaims{
		Role:      user.Role,
		SessionID: session.String(),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   user.ID,
			Audience:  jwt.ClaimStrings{t.audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return signed, exp, nil
}

// verify parses and validates an access token: HS256 only, issuer,
// audience, expiry and issued-at required, subject and a valid role present.
func (t *tokenIssuer) verify(token string) (*accessClaims, error) {
	var claims accessClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(t.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return nil, fmt.Errorf("verify access token: %w", err)
	}
	if claims.Subject == "" || !claims.Role.Valid() {
		return nil, errors.New("verify access token: missing subject or role")
	}
	return &claims, nil
}

// newRefreshToken returns a random refresh token and its SHA-256 hash.
func newRefreshToken() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("new refresh token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, hashToken(tok), nil
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// authInfo is what the authenticate middleware learned about the caller.
type authInfo struct {
	Actor   domain.Actor
	Method  string    // "", "bearer" or "cookie"
	Session uuid.UUID // the token's sign-in; uuid.Nil for tokens issued without one
}

const authKey = "palimpsest.auth"

// authOf returns the caller's authentication (anonymous when none).
func authOf(c *gin.Context) authInfo {
	if v, ok := c.Get(authKey); ok {
		if a, ok := v.(authInfo); ok {
			return a
		}
	}
	return authInfo{Actor: domain.Actor{Role: domain.RoleReader}}
}

// actorOf returns the caller as a domain actor.
func actorOf(c *gin.Context) domain.Actor { return authOf(c).Actor }

// authenticate reads a bearer token or the access cookie. A request without
// credentials continues anonymously; a bad bearer token is a 401, a bad
// cookie token is ignored (the request continues anonymously). The token's
// sign-in must still be open, the account still active, and it acts with
// its current role (all checked through short caches, Config.UserCacheTTL).
// Cookie-authenticated unsafe requests must pass the CSRF check.
func (s *Server) authenticate(c *gin.Context) {
	var (
		token  string
		method string
	)
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
			s.fail(c, errInvalidToken)
			return
		}
		token, method = strings.TrimSpace(rest), "bearer"
	} else if ck, err := c.Cookie(accessCookie); err == nil && ck != "" {
		token, method = ck, "cookie"
	}
	if token == "" {
		c.Next()
		return
	}
	claims, err := s.tokens.verify(token)
	var session uuid.UUID
	if err == nil {
		session, err = s.openSession(c.Request.Context(), claims)
		if errors.Is(err, errSessionEnded) {
			err = errInvalidToken
		} else if err != nil {
			s.fail(c, fmt.Errorf("authenticate: %w", err))
			return
		}
	}
	if err != nil {
		if method == "cookie" {
			// A stale session cookie must not break public pages or the
			// refresh endpoint: continue anonymously. Endpoints that need
			// a user still answer 401.
			c.Next()
			return
		}
		s.fail(c, errInvalidToken)
		return
	}
	user, err := s.users.get(c.Request.Context(), claims.Subject, s.cfg.Commands.LoadUser)
	if err != nil {
		if domain.KindOf(err) == domain.KindNotFound {
			s.fail(c, errInvalidToken)
			return
		}
		s.fail(c, fmt.Errorf("authenticate: load user: %w", err))
		return
	}
	if user.Status != domain.UserStatusActive {
		s.fail(c, domain.Errorf(domain.KindUnauthenticated, "account_deactivated", "this account is deactivated"))
		return
	}
	if method == "cookie" && unsafeMethod(c.Request.Method) && !s.csrfOK(c) {
		s.fail(c, errCSRF)
		return
	}
	// The account's role now, not the one in the token: a demotion takes
	// effect as soon as a deactivation does (Config.UserCacheTTL).
	c.Set(authKey, authInfo{Actor: domain.Actor{ID: claims.Subject, Role: user.Role}, Method: method, Session: session})
	c.Header("Cache-Control", "no-store")
	c.Next()
}

// errSessionEnded means an access token's sign-in was revoked.
var errSessionEnded = errors.New("the session has ended")

// openSession returns the sign-in claims were issued in, or errSessionEnded
// when it was revoked. A token without one (issued before tokens carried
// it) passes until it expires.
func (s *Server) openSession(ctx context.Context, claims *accessClaims) (uuid.UUID, error) {
	if claims.SessionID == "" {
		return uuid.Nil, nil
	}
	id, err := uuid.Parse(claims.SessionID)
	if err != nil {
		return uuid.Nil, errSessionEnded
	}
	open, err := s.familyOpen(ctx, id)
	if err != nil {
		return uuid.Nil, err
	}
	if !open {
		return uuid.Nil, errSessionEnded
	}
	return id, nil
}

// familyOpen reports, through the short cache, whether a sign-in is open.
func (s *Server) familyOpen(ctx context.Context, family uuid.UUID) (bool, error) {
	return s.sessions.get(ctx, family.String(), func(ctx context.Context, _ string) (bool, error) {
		return s.auth.RefreshFamilyOpen(ctx, family)
	})
}

// OpenSession records a sign-in made elsewhere (the web UI's cookie
// sessions: web.SessionStore) as a refresh family whose only token nobody
// holds. It ends alone (EndSession) or with the account's other sign-ins
// (a password change, a deactivation). It returns the family's ID.
func (s *Server) OpenSession(ctx context.Context, userID string, expires time.Time) (string, error) {
	_, hash, err := newRefreshToken() // the token is dropped: only the family matters
	if err != nil {
		return "", err
	}
	family := uuid.New()
	if err := s.auth.CreateRefreshToken(ctx, postgres.RefreshToken{Hash: hash, FamilyID: family, UserID: userID,
		IssuedAt: s.cfg.Now().UTC(), ExpiresAt: expires}); err != nil {
		return "", err
	}
	return family.String(), nil
}

// SessionOpen reports whether a sign-in of OpenSession is still open
// (cached for Config.UserCacheTTL).
func (s *Server) SessionOpen(ctx context.Context, id string) (bool, error) {
	family, err := uuid.Parse(id)
	if err != nil {
		return false, nil
	}
	return s.familyOpen(ctx, family)
}

// EndSession ends a sign-in of OpenSession.
func (s *Server) EndSession(ctx context.Context, id string) error {
	family, err := uuid.Parse(id)
	if err != nil {
		return nil // not one of ours: nothing to end
	}
	return s.endSession(ctx, family)
}

// endSession revokes one sign-in: its refresh tokens and, on this node at
// once and on others within Config.UserCacheTTL, its access tokens.
func (s *Server) endSession(ctx context.Context, family uuid.UUID) error {
	defer s.sessions.forget(family.String())
	return s.auth.RevokeRefreshFamily(ctx, family, s.cfg.Now().UTC())
}

// EndUserSessions ends every sign-in of a user but keep (uuid.Nil: all of
// them), as endSession does. The web UI calls it after a password change
// made there, so the account's API sessions end as they do when the
// password is changed through the API.
func (s *Server) EndUserSessions(ctx context.Context, userID string, keep uuid.UUID) error {
	defer s.sessions.forgetAll()
	return s.auth.RevokeUserRefreshTokens(ctx, userID, keep, s.cfg.Now().UTC())
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// csrfOK compares the csrf cookie with the X-CSRF-Token header (or the
// _csrf form field) in constant time.
func (s *Server) csrfOK(c *gin.Context) bool {
	want, err := c.Cookie(csrfCookie)
	if err != nil || want == "" {
		return false
	}
	got := c.GetHeader(csrfHeader)
	if got == "" && strings.HasPrefix(c.ContentType(), "application/x-www-form-urlencoded") {
		got = c.PostForm(csrfFormField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// requireSignedIn refuses anonymous callers with 401.
func (s *Server) requireSignedIn(c *gin.Context) {
	if actorOf(c).Anonymous() {
		s.fail(c, errUnauthenticated)
		return
	}
	c.Next()
}

// requireRole refuses anonymous callers (401) and callers whose role fails
// allowed (403). Used only for read-side visibility; commands decide their
// own authorization.
func (s *Server) requireRole(allowed func(domain.Role) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a := actorOf(c)
		if a.Anonymous() {
			s.fail(c, errUnauthenticated)
			return
		}
		if !allowed(a.Role) {
			s.fail(c, errForbidden)
			return
		}
		c.Next()
	}
}

// setSessionCookies sets the browser session cookies: the access token
// (HttpOnly, SameSite=Lax), the refresh token (HttpOnly, SameSite=Strict,
// scoped to the auth endpoints) and a fresh CSRF token (readable by scripts
// for double submission). It returns the CSRF token.
func (s *Server) setSessionCookies(c *gin.Context, access string, accessExp time.Time, refresh string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new csrf token: %w", err)
	}
	csrf := base64.RawURLEncoding.EncodeToString(b)
	secure := s.cfg.SecureCookies || c.Request.TLS != nil
	refreshAge := int(s.cfg.RefreshTTL / time.Second)
	http.SetCookie(c.Writer, &http.Cookie{Name: accessCookie, Value: access, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(time.Until(accessExp) / time.Second)})
	http.SetCookie(c.Writer, &http.Cookie{Name: refreshCookie, Value: refresh, Path: refreshCookiePath, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: refreshAge})
	http.SetCookie(c.Writer, &http.Cookie{Name: csrfCookie, Value: csrf, Path: "/", Secure: secure,
		SameSite: http.SameSiteLaxMode, MaxAge: refreshAge})
	return csrf, nil
}

// clearSessionCookies expires the session cookies.
func (s *Server) clearSessionCookies(c *gin.Context) {
	secure := s.cfg.SecureCookies || c.Request.TLS != nil
	for _, ck := range []struct{ name, path string }{{accessCookie, "/"}, {refreshCookie, refreshCookiePath}, {csrfCookie, "/"}} {
		http.SetCookie(c.Writer, &http.Cookie{Name: ck.name, Value: "", Path: ck.path, MaxAge: -1, HttpOnly: ck.name != csrfCookie,
			Secure: secure, SameSite: http.SameSiteLaxMode})
	}
}

// wantsCookieSession reports whether the client asked for a browser session.
func wantsCookieSession(c *gin.Context) bool {
	return strings.EqualFold(c.GetHeader(sessionHeader), "cookie")
}

// shortCache caches, for a short TTL, what every authenticated request
// checks (the account behind a token, whether its session is still open),
// so a request costs no read while a change still takes effect within the
// TTL. The node that makes a change forgets the entry at once.
type shortCache[V any] struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]cached[V]
	// forgets counts forget calls: a value loaded while one ran may
	// predate the change and is not stored.
	forgets uint64
}

type cached[V any] struct {
	v  V
	at time.Time
}

// maxCached bounds a shortCache; it is simply cleared when full.
const maxCached = 10000

func newShortCache[V any](ttl time.Duration, now func() time.Time) *shortCache[V] {
	return &shortCache[V]{ttl: ttl, now: now, m: make(map[string]cached[V])}
}

func (c *shortCache[V]) get(ctx context.Context, key string, load func(context.Context, string) (V, error)) (V, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[key]
	forgets := c.forgets
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.v, nil
	}
	v, err := load(ctx, key)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != forgets {
		return v, nil
	}
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[key] = cached[V]{v: v, at: now}
	return v, nil
}

// forget drops key (after this node changed what it caches).
func (c *shortCache[V]) forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.forgets++
	c.mu.Unlock()
}

// forgetAll drops every entry (after a change to entries it cannot name).
func (c *shortCache[V]) forgetAll() {
	c.mu.Lock()
	clear(c.m)
	c.forgets++
	c.mu.Unlock()
}
