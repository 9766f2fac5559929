package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// Context keys and cookie names of the UI.
const (
	ctxActor = "web.actor"
	ctxUser  = "web.user"
	ctxCSRF  = "web.csrf"

	// CSRFCookie holds the per-browser CSRF token the forms echo.
	CSRFCookie = "palimpsest_web_csrf"
	// CSRFField is the hidden form field carrying the CSRF token.
	CSRFField = "_csrf"
)

// ContentSecurityPolicy is sent with every page: scripts and styles only
// from this origin, no inline code, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// headers sets the security headers of every page.
func (ui *UI) headers(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("X-Frame-Options", "DENY")
}

// recoverer turns a panic into the 500 page (never a stack trace).
func (ui *UI) recoverer(c *gin.Context) {
	defer func() {
		if rec := recover(); rec != nil {
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			ui.log.Error("web: panic", "path", c.Request.URL.Path, "panic", rec)
			if !c.Writer.Written() {
				ui.headers(c)
				ui.renderError(c, http.StatusInternalServerError, "")
			}
			c.Abort()
		}
	}()
	c.Next()
}

// userSessions is implemented by Sessions that load the signed-in user to
// check a session (CookieSessions): session then uses that user instead of
// loading it a second time.
type userSessions interface {
	User(r *http.Request) (*domain.User, bool)
}

// session resolves the signed-in actor and user.
func (ui *UI) session(c *gin.Context) {
	if _, done := c.Get(ctxActor); done {
		return
	}
	if us, ok := ui.cfg.Sessions.(userSessions); ok {
		if u, ok := us.User(c.Request); ok {
			c.Set(ctxActor, u.Actor())
			c.Set(ctxUser, u)
			return
		}
		c.Set(ctxActor, domain.Actor{Role: domain.RoleReader})
		return
	}
	actor, ok := ui.cfg.Sessions.Actor(c.Request)
	if !ok {
		actor = domain.Actor{Role: domain.RoleReader}
	}
	c.Set(ctxActor, actor)
	if ok {
		if u, err := ui.cfg.Commands.LoadUser(c.Request.Context(), actor.ID); err == nil {
			c.Set(ctxUser, u)
		}
	}
}

// actorOf returns the actor resolved by session (anonymous if none).
func actorOf(c *gin.Context) domain.Actor {
	if a, ok := c.Get(ctxActor); ok {
		if actor, ok := a.(domain.Actor); ok {
			return actor
		}
	}
	return domain.Actor{Role: domain.RoleReader}
}

// csrf issues the CSRF cookie when missing and refuses every unsafe request
// whose form does not echo it (constant-time compare) with the 403 page.
func (ui *UI) csrf(c *gin.Context) {
	if unsafeMethod(c.Request.Method) {
		// Bound what form parsing (below) may read, uploads included.
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUploadBytes)
	}
	token, fresh := ui.csrfToken(c)
	if fresh {
		if unsafeMethod(c.Request.Method) {
			c.Set(ctxCSRF, token)
			ui.renderError(c, http.StatusForbidden, "Your form expired or was not sent by this site (missing security token). Go back, reload the page and try again.")
			return
		}
	}
	c.Set(ctxCSRF, token)
	if unsafeMethod(c.Request.Method) {
		got := c.PostForm(CSRFField)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			ui.renderError(c, http.StatusForbidden, "Your form expired or was not sent by this site (invalid security token). Go back, reload the page and try again.")
			return
		}
	}
	c.Next()
}

// csrfToken returns the browser's CSRF token, issuing one (fresh = true)
// when it has none.
func (ui *UI) csrfToken(c *gin.Context) (token string, fresh bool) {
	if t, err := c.Cookie(CSRFCookie); err == nil && len(t) >= 32 {
		return t, false
	}
	return ui.setCSRFCookie(c), true
}

// setCSRFCookie issues a fresh CSRF token and returns it.
func (ui *UI) setCSRFCookie(c *gin.Context) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(c.Writer, &http.Cookie{Name: CSRFCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: ui.secure(c.Request), SameSite: http.SameSiteLaxMode})
	return token
}

// rotateCSRF replaces the CSRF token when the session changes (sign in,
// sign up, sign out), so a token planted before sign-in is worthless after.
func (ui *UI) rotateCSRF(c *gin.Context) { c.Set(ctxCSRF, ui.setCSRFCookie(c)) }

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// secure reports whether cookies must carry the Secure flag.
func (ui *UI) secure(r *http.Request) bool { return ui.cfg.SecureCookies || r.TLS != nil }

// signedIn sends anonymous visitors to the sign-in page.
func (ui *UI) signedIn(c *gin.Context) {
	if actorOf(c).Anonymous() {
		next := c.Request.URL.RequestURI()
		if c.Request.Method != http.MethodGet {
			next = "/"
		}
		c.Redirect(http.StatusSeeOther, "/signin?next="+url.QueryEscape(next))
		c.Abort()
		return
	}
	c.Next()
}

// requireRole renders the 403 page for actors whose role fails allowed.
func (ui *UI) requireRole(allowed func(domain.Role) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !allowed(actorOf(c).Role) {
			ui.renderError(c, http.StatusForbidden, "")
			return
		}
		c.Next()
	}
}
