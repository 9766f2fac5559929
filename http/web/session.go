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

// CookieSessionsConfig configures CookieSessions.
type CookieSessionsConfig struct {
	// Key signs session cookies (HMAC-SHA256); at least 32 bytes. Required.
	Key []byte
	// Users loads the signed-in user on each request, so a role change or
	// deactivation takes effect at once. Required.
	Users UserLoader
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
// holding the user ID, the password-hash fingerprint and the expiry. A
// password change ends every other session of the user.
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
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, false
	}
	payload, mac, ok := strings.Cut(ck.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.sign(payload))) {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, false
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 {
		return nil, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || s.cfg.Now().Unix() > exp {
		return nil, false
	}
	u, err := s.cfg.Users(r.Context(), parts[0])
	if err != nil || !u.Active() || !hmac.Equal([]byte(parts[1]), []byte(s.fingerprint(u))) {
		return nil, false
	}
	return u, true
}

// SignIn sets the session cookie for user.
func (s *CookieSessions) SignIn(w http.ResponseWriter, r *http.Request, user *domain.User) error {
	if user == nil || user.ID == "" {
		return errors.New("sign in: no user")
	}
	exp := s.cfg.Now().Add(s.cfg.TTL)
	payload := base64.RawURLEncoding.EncodeToString([]byte(user.ID + "|" + s.fingerprint(user) + "|" + strconv.FormatInt(exp.Unix(), 10)))
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: payload + "." + s.sign(payload), Path: "/",
		Expires: exp, MaxAge: int(s.cfg.TTL / time.Second), HttpOnly: true, Secure: s.cfg.Secure || r.TLS != nil,
		SameSite: http.SameSiteLaxMode})
	return nil
}

// SignOut expires the session cookie.
func (s *CookieSessions) SignOut(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.Secure || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	return nil
}

var _ userSessions = (*CookieSessions)(nil)
