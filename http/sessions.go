package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// Sessions exposes the API's cookie sessions to other handlers on the same
// site (the server-rendered web UI): the same JWT access cookie, rotating
// refresh cookie and account checks as the JSON API. CSRF protection of
// forms stays with the caller.
type Sessions struct {
	s *Server
}

// Sessions returns the server's cookie sessions.
func (s *Server) Sessions() *Sessions { return &Sessions{s: s} }

type sessionCtxKey struct{}

// Actor returns the signed-in actor of r: the one Middleware put into the
// request context, else the one of a valid access cookie whose account is
// active. ok is false for anonymous requests.
func (ss *Sessions) Actor(r *http.Request) (domain.Actor, bool) {
	if a, ok := r.Context().Value(sessionCtxKey{}).(domain.Actor); ok {
		return a, true
	}
	ck, err := r.Cookie(accessCookie)
	if err != nil || ck.Value == "" {
		return domain.Actor{}, false
	}
	return ss.verify(r.Context(), ck.Value)
}

func (ss *Sessions) verify(ctx context.Context, token string) (domain.Actor, bool) {
	claims, err := ss.s.tokens.verify(token)
	if err != nil {
		return domain.Actor{}, false
	}
	if _, err := ss.s.openSession(ctx, claims); err != nil {
		return domain.Actor{}, false
	}
	user, err := ss.s.users.get(ctx, claims.Subject, ss.s.cfg.Commands.LoadUser)
	if err != nil || !user.Active() {
		return domain.Actor{}, false
	}
	return domain.Actor{ID: claims.Subject, Role: user.Role}, true
}

// Middleware renews an expired or missing access cookie from the refresh
// cookie (rotating it, exactly like POST /api/v1/auth/refresh) and puts the
// signed-in actor into the request context for Actor. A refresh cookie that
// no longer works is cleared and the request continues anonymously.
func (ss *Sessions) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ck, err := r.Cookie(accessCookie); err == nil && ck.Value != "" {
			if a, ok := ss.verify(r.Context(), ck.Value); ok {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionCtxKey{}, a)))
				return
			}
		}
		rc, err := r.Cookie(refreshCookie)
		if err != nil || rc.Value == "" {
			next.ServeHTTP(w, r)
			return
		}
		sess, err := ss.s.rotateSession(r.Context(), rc.Value)
		if err != nil {
			ss.clearCookies(w, r)
			next.ServeHTTP(w, r)
			return
		}
		ss.setCookies(w, r, sess)
		a := domain.Actor{ID: sess.user.ID, Role: sess.user.Role}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionCtxKey{}, a)))
	})
}

// SignIn starts a cookie session for user (whose credentials the caller
// checked, e.g. with commands.Handler.Authenticate).
func (ss *Sessions) SignIn(w http.ResponseWriter, r *http.Request, user *domain.User) error {
	if !user.Active() {
		return domain.Errorf(domain.KindUnauthenticated, "account_deactivated", "this account is deactivated")
	}
	sess, err := ss.s.newSession(r.Context(), user)
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	ss.setCookies(w, r, sess)
	return nil
}

// SignOut revokes the session of the request's refresh cookie and clears
// the session cookies.
func (ss *Sessions) SignOut(w http.ResponseWriter, r *http.Request) error {
	defer ss.clearCookies(w, r)
	rc, err := r.Cookie(refreshCookie)
	if err != nil || rc.Value == "" {
		return nil
	}
	stored, err := ss.s.auth.RefreshTokenByHash(r.Context(), hashToken(rc.Value))
	if err != nil {
		return nil // unknown token: nothing to revoke
	}
	if err := ss.s.endSession(r.Context(), stored.FamilyID); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}

func (ss *Sessions) secure(r *http.Request) bool { return ss.s.cfg.SecureCookies || r.TLS != nil }

// setCookies sets the access and refresh cookies of sess (the API's CSRF
// cookie is left alone; the web UI keeps its own form tokens).
func (ss *Sessions) setCookies(w http.ResponseWriter, r *http.Request, sess session) {
	secure := ss.secure(r)
	http.SetCookie(w, &http.Cookie{Name: accessCookie, Value: sess.access, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode, Expires: sess.accessExp})
	http.SetCookie(w, &http.Cookie{Name: refreshCookie, Value: sess.refresh, Path: refreshCookiePath, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(ss.s.cfg.RefreshTTL.Seconds())})
}

func (ss *Sessions) clearCookies(w http.ResponseWriter, r *http.Request) {
	secure := ss.secure(r)
	http.SetCookie(w, &http.Cookie{Name: accessCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: refreshCookie, Path: refreshCookiePath, MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}
