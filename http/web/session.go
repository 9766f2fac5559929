package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// SessionCookie is the name of the default session cookie.
const SessionCookie = "palimpsest_web_session"

// UserLoader loads a user's current state, e.g. (*commands.Handler).LoadUser.
type UserLoader func(ctx context.Context, userID string) (*domain.User, error)

// SessionStore keeps sign-ins on the server, so that ending one (signing
// out, a password change, a deactivation) ends it even for a copy of its
// cookie. (*httpapi.Server) implements it with the JSON API's sign-ins:
// one revocation ends both kinds.
type SessionStore interface {
	// OpenSession records a sign-in of userID lasting until expires and
	// returns its ID.
	OpenSession(ctx context.Context, userID string, expires time.Time) (string, error)
	// SessionOpen reports whether a sign-in is still open. It is called on
	// every request: implementations cache it briefly.
	SessionOpen(ctx context.Context, id string) (bool, error)
	// EndSession ends a sign-in.
	EndSession(ctx context.Context, id string) error
}

// CookieSessionsConfig configures CookieSessions.
type CookieSessionsConfig struct {
	// Key signs session cookies (HMAC-SHA256); at least 32 bytes. Required.
	Key []byte
	// Users loads the signed-in user on each request, so a role change or
	// deactivation takes effect at once. Required.
	Users UserLoader
	// Store, when set, keeps every sign-in on the server as well: signing
	// out ends it for good. Without it a sign-out only drops this browser's
	// cookie; a copy of the cookie works until it expires or the password
	// changes.
	Store SessionStore
	// TTL is how long a sign-in lasts. Default 7 days.
	TTL time.Duration
	// Secure forces the Secure flag even without TLS.
	Secure bool
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Validate reports whether c is usable.
func (c CookieSessionsConfig) Validate() error {
	var errs []error
	if len(c.Key) < 32 {
		errs = append(errs, errors.New("Key must have at least 32 bytes"))
	}
	if c.Users == nil {
		errs = append(errs, errors.New("Users is required"))
	}
	if c.TTL < 0 {
		errs = append(errs, errors.New("TTL must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("cookie sessions config: %w", errors.Join(errs...))
	}
	return nil
}

// CookieSessions keeps sign-ins in a signed, HttpOnly, SameSite=Lax cookie
// holding the user ID, the password-hash fingerprint, the expiry and, with
// a Store, the sign-in's ID there. A password change ends every other
// session of the user; with a Store, so does ending the sign-in there.
type CookieSessions struct {
	cfg CookieSessionsConfig
}

// NewCookieSessions returns CookieSessions for cfg.
func NewCookieSessions(cfg CookieSessionsConfig) (*CookieSessions, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TTL == 0 {
		cfg.TTL = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &CookieSessions{cfg: cfg}, nil
}

func (s *CookieSessions) sign(payload string) string {
	m := hmac.New(sha256.New, s.cfg.Key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// fingerprint ties a session to the password it was started with.
func (s *CookieSessions) fingerprint(u *domain.User) string {
	m := hmac.New(sha256.New, s.cfg.Key)
	m.Write([]byte("pw:" + u.PasswordHash))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// Actor returns the active user signed in on r.
func (s *CookieSessions) Actor(r *http.Request) (domain.Actor, bool) {
	u, ok := s.User(r)
	if !ok {
		return domain.Actor{}, false
	}
	return u.Actor(), true
}

// User returns the active user signed in on r, as loaded for this request.
func (s *CookieSessions) User(r *http.Request) (*domain.User, bool) {
	c, ok := s.cookie(r)
	if !ok {
		return nil, false
	}
	u, err := s.cfg.Users(r.Context(), c.userID)
	if err != nil || !u.Active() || !hmac.Equal([]byte(c.fingerprint), []byte(s.fingerprint(u))) {
		return nil, false
	}
	if s.cfg.Store != nil {
		if open, err := s.cfg.Store.SessionOpen(r.Context(), c.storeID); err != nil || !open {
			return nil, false
		}
	}
	return u, true
}

// sessionCookie is what a session cookie says.
type sessionCookie struct {
	userID, fingerprint, storeID string
}

// cookie returns r's session cookie if it is authentic, unexpired and of
// this configuration (with a Store ID exactly when there is a Store).
func (s *CookieSessions) cookie(r *http.Request) (sessionCookie, bool) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return sessionCookie{}, false
	}
	payload, mac, ok := strings.Cut(ck.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.sign(payload))) {
		return sessionCookie{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return sessionCookie{}, false
	}
	parts := strings.Split(string(raw), "|")
	want := 3
	if s.cfg.Store != nil {
		want = 4
	}
	if len(parts) != want {
		return sessionCookie{}, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || s.cfg.Now().Unix() > exp {
		return sessionCookie{}, false
	}
	c := sessionCookie{userID: parts[0], fingerprint: parts[1]}
	if len(parts) == 4 {
		c.storeID = parts[3]
	}
	return c, true
}

// SignIn sets the session cookie for user.
func (s *CookieSessions) SignIn(w http.ResponseWriter, r *http.Request, user *domain.User) error {
	if user == nil || user.ID == "" {
		return errors.New("sign in: no user")
	}
	exp := s.cfg.Now().Add(s.cfg.TTL)
	value := user.ID + "|" + s.fingerprint(user) + "|" + strconv.FormatInt(exp.Unix(), 10)
	if s.cfg.Store != nil {
		id, err := s.cfg.Store.OpenSession(r.Context(), user.ID, exp)
		if err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
		value += "|" + id
	}
	payload := base64.RawURLEncoding.EncodeToString([]byte(value))
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: payload + "." + s.sign(payload), Path: "/",
		Expires: exp, MaxAge: int(s.cfg.TTL / time.Second), HttpOnly: true, Secure: s.cfg.Secure || r.TLS != nil,
		SameSite: http.SameSiteLaxMode})
	return nil
}

// SignOut ends r's sign-in in the Store, if any, and expires the session
// cookie.
func (s *CookieSessions) SignOut(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.Secure || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	if c, ok := s.cookie(r); ok && s.cfg.Store != nil {
		if err := s.cfg.Store.EndSession(r.Context(), c.storeID); err != nil {
			return fmt.Errorf("sign out: %w", err)
		}
	}
	return nil
}

var _ userSessions = (*CookieSessions)(nil)
