package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/postgres"
)

// userDTO is a user account as its owner and the auth endpoints show it.
type userDTO struct {
	ID          string            `json:"id"`
	Email       string            `json:"email"`
	Username    string            `json:"username"`
	DisplayName string            `json:"display_name"`
	Bio         string            `json:"bio"`
	Role        domain.Role       `json:"role"`
	Status      domain.UserStatus `json:"status"`
	Version     uint64            `json:"version"`
	CreatedAt   time.Time         `json:"created_at"`
	// Avatar is the profile picture (GET /me and user changes; media.go).
	Avatar *avatarDTO `json:"avatar,omitempty"`
}

func newUserDTO(u *domain.User) userDTO {
	return userDTO{ID: u.ID, Email: u.Email, Username: u.Username, DisplayName: u.DisplayName, Bio: u.Bio,
		Role: u.Role, Status: u.Status, Version: u.Version, CreatedAt: u.CreatedAt.UTC()}
}

// sessionResponse answers register, login and refresh. With a cookie
// session the tokens travel only in HttpOnly cookies and the body carries
// the CSRF token instead.
type sessionResponse struct {
	User         userDTO `json:"user"`
	AccessToken  string  `json:"access_token,omitempty"`
	RefreshToken string  `json:"refresh_token,omitempty"`
	TokenType    string  `json:"token_type"`
	ExpiresIn    int     `json:"expires_in"`
	CSRFToken    string  `json:"csrf_token,omitempty"`
	Position     *uint64 `json:"position,omitempty"`
}

func (s *Server) meta(c *gin.Context) commands.Meta {
	return commands.Meta{Actor: actorOf(c), CorrelationID: requestID(c)}
}

// startSession signs user in (a new token family) and writes the session
// response: tokens in the body, or in cookies for browser sessions.
func (s *Server) startSession(c *gin.Context, status int, user *domain.User, cookie bool, pos *eventstore.Position) {
	sess, err := s.newSession(c.Request.Context(), user)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeSession(c, status, user, sess.access, sess.accessExp, sess.refresh, cookie, pos)
}

func (s *Server) writeSession(c *gin.Context, status int, user *domain.User, access string, exp time.Time, refresh string, cookie bool, pos *eventstore.Position) {
	resp := sessionResponse{User: newUserDTO(user), TokenType: "Bearer", ExpiresIn: int(s.cfg.AccessTTL / time.Second)}
	if pos != nil {
		p := uint64(*pos)
		resp.Position = &p
		c.Header("X-Event-Position", strconv.FormatUint(p, 10))
	}
	if cookie {
		csrf, err := s.setSessionCookies(c, access, exp, refresh)
		if err != nil {
			s.fail(c, err)
			return
		}
		resp.CSRFToken = csrf
	} else {
		resp.AccessToken, resp.RefreshToken = access, refresh
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(status, resp)
}

type registerRequest struct {
	Email       string `json:"email"`
	Username    string `json:"username"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
}

// register creates an account and signs it in (POST /api/v1/auth/register).
// Registrations are rate limited per client IP: each one hashes a password
// and appends events. Requests refused by validation, before any hashing,
// give their reservation back.
func (s *Server) register(c *gin.Context) {
	var req registerRequest
	if err := decodeJSON(c, &req, false); err != nil {
		s.fail(c, err)
		return
	}
	ip := c.ClientIP()
	if ok, d := s.limiter.AllowRegistration(ip); !ok {
		s.rateLimited(c, d, "too many registrations from this address; retry later")
		return
	}
	res, user, err := s.cfg.Commands.RegisterUser(c.Request.Context(), s.meta(c), commands.RegisterUser{
		Email: req.Email, Username: req.Username, Password: req.Password, DisplayName: req.DisplayName})
	if err != nil {
		if domain.KindOf(err) == domain.KindInvalid {
			s.limiter.RegistrationAborted(ip)
		}
		s.fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/users/"+user.ID)
	s.startSession(c, http.StatusCreated, user, wantsCookieSession(c), &res.Position)
}

type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// login signs in with email or username and password (POST
// /api/v1/auth/login). Failures are rate limited per account and per IP;
// every attempt reserves its place before the password is checked, so
// concurrent guesses cannot overrun the budget.
func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if err := decodeJSON(c, &req, false); err != nil {
		s.fail(c, err)
		return
	}
	ip := c.ClientIP()
	if ok, d := s.limiter.AllowLogin(req.Login, ip); !ok {
		s.rateLimited(c, d, "too many failed sign-ins; retry later")
		return
	}
	user, err := s.cfg.Commands.Authenticate(c.Request.Context(), req.Login, req.Password)
	if err != nil {
		if domain.KindOf(err) == domain.KindUnauthenticated {
			s.limiter.LoginFailed(req.Login, ip)
		} else {
			s.limiter.LoginAborted(req.Login, ip)
		}
		s.fail(c, err)
		return
	}
	s.limiter.LoginSucceeded(req.Login, ip)
	s.startSession(c, http.StatusOK, user, wantsCookieSession(c), nil)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// refreshToken returns the presented refresh token from the body, or from
// the refresh cookie (then the CSRF check applies). fromCookie tells which.
func (s *Server) refreshToken(c *gin.Context) (tok string, fromCookie bool, err error) {
	var req refreshRequest
	if err := decodeJSON(c, &req, true); err != nil {
		return "", false, err
	}
	if req.RefreshToken != "" {
		return req.RefreshToken, false, nil
	}
	ck, cerr := c.Cookie(refreshCookie)
	if cerr != nil || ck == "" {
		return "", false, domain.Invalid("missing_refresh_token", "send refresh_token",
			map[string][]string{"refresh_token": {"is required"}})
	}
	if !s.csrfOK(c) {
		return "", true, errCSRF
	}
	return ck, true, nil
}

var (
	errRefreshInvalid = domain.Errorf(domain.KindUnauthenticated, "invalid_refresh_token", "the refresh token is invalid, expired or revoked")
	errRefreshReused  = domain.Errorf(domain.KindUnauthenticated, "refresh_token_reused", "this refresh token was already used; the session has been revoked")
)

// refresh rotates a refresh token (POST /api/v1/auth/refresh): the old one
// stops working; presenting a used one revokes its whole family. The user
// is reloaded, so role changes take effect and deactivated users are refused.
func (s *Server) refresh(c *gin.Context) {
	tok, fromCookie, err := s.refreshToken(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	sess, err := s.rotateSession(c.Request.Context(), tok)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeSession(c, http.StatusOK, sess.user, sess.access, sess.accessExp, sess.refresh, fromCookie || wantsCookieSession(c), nil)
}

// session is a freshly issued token pair.
type session struct {
	user      *domain.User
	access    string
	accessExp time.Time
	refresh   string
}

// rotateSession exchanges a refresh token for a new pair: the user is
// reloaded (deactivated users are refused and their family revoked), the
// old token is marked used, and a used token revokes its family.
func (s *Server) rotateSession(ctx context.Context, tok string) (session, error) {
	now := s.cfg.Now().UTC()
	hash := hashToken(tok)
	stored, err := s.auth.RefreshTokenByHash(ctx, hash)
	if err != nil {
		return session{}, s.refreshError(err)
	}
	user, err := s.cfg.Commands.LoadUser(ctx, stored.UserID)
	if err != nil && domain.KindOf(err) != domain.KindNotFound {
		return session{}, err
	}
	if user == nil || err != nil || !user.Active() {
		if rerr := s.endSession(ctx, stored.FamilyID); rerr != nil {
			return session{}, rerr
		}
		return session{}, domain.Errorf(domain.KindUnauthenticated, "account_deactivated", "this account is deactivated")
	}
	next, nextHash, err := newRefreshToken()
	if err != nil {
		return session{}, err
	}
	if _, err := s.auth.RotateRefreshToken(ctx, hash, postgres.RefreshToken{Hash: nextHash, IssuedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}, now); err != nil {
		if errors.Is(err, postgres.ErrRefreshTokenReused) {
			s.sessions.forget(stored.FamilyID.String()) // the store revoked the family
		}
		return session{}, s.refreshError(err)
	}
	s.users.forget(user.ID)
	access, exp, err := s.tokens.issue(user, stored.FamilyID)
	if err != nil {
		return session{}, err
	}
	return session{user: user, access: access, accessExp: exp, refresh: next}, nil
}

// newSession issues an access token and a refresh token of a new family.
func (s *Server) newSession(ctx context.Context, user *domain.User) (session, error) {
	family := uuid.New()
	access, exp, err := s.tokens.issue(user, family)
	if err != nil {
		return session{}, err
	}
	refresh, hash, err := newRefreshToken()
	if err != nil {
		return session{}, err
	}
	now := s.cfg.Now().UTC()
	if err := s.auth.CreateRefreshToken(ctx, postgres.RefreshToken{Hash: hash, FamilyID: family, UserID: user.ID,
		IssuedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}); err != nil {
		return session{}, err
	}
	return session{user: user, access: access, accessExp: exp, refresh: refresh}, nil
}

func (s *Server) refreshError(err error) error {
	switch {
	case errors.Is(err, postgres.ErrRefreshTokenReused):
		return errRefreshReused
	case errors.Is(err, postgres.ErrRefreshTokenNotFound), errors.Is(err, postgres.ErrRefreshTokenRevoked), errors.Is(err, postgres.ErrRefreshTokenExpired):
		return errRefreshInvalid
	}
	return err
}

// logout revokes the session of a refresh token (POST /api/v1/auth/logout):
// its refresh tokens and its access tokens. It clears the session cookies.
// The refresh token must belong to the signed-in caller.
func (s *Server) logout(c *gin.Context) {
	a := actorOf(c)
	if a.Anonymous() {
		s.fail(c, errUnauthenticated)
		return
	}
	tok, _, err := s.refreshToken(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	stored, err := s.auth.RefreshTokenByHash(ctx, hashToken(tok))
	switch {
	case errors.Is(err, postgres.ErrRefreshTokenNotFound):
		s.fail(c, errRefreshInvalid)
		return
	case err != nil:
		s.fail(c, err)
		return
	case stored.UserID != a.ID:
		s.fail(c, errRefreshInvalid)
		return
	}
	if err := s.endSession(ctx, stored.FamilyID); err != nil {
		s.fail(c, err)
		return
	}
	s.clearSessionCookies(c)
	c.Status(http.StatusNoContent)
}

// logoutOthers ends every sign-in of the caller's account but the one of
// the caller's token (POST /api/v1/auth/logout-others): their refresh and
// access tokens, and web UI sign-ins kept by this server. A token issued
// before tokens named their sign-in ends its own as well.
func (s *Server) logoutOthers(c *gin.Context) {
	if err := decodeJSON(c, &struct{}{}, true); err != nil {
		s.fail(c, err)
		return
	}
	a := authOf(c)
	if err := s.EndUserSessions(c.Request.Context(), a.Actor.ID, a.Session); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// getMe returns the caller's account, read from its stream (GET /api/v1/me).
func (s *Server) getMe(c *gin.Context) {
	u, err := s.cfg.Commands.LoadUser(c.Request.Context(), actorOf(c).ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", etag(u.Version))
	dto := newUserDTO(u)
	dto.Avatar = s.avatarOf(c.Request.Context(), u)
	c.JSON(http.StatusOK, dto)
}

type patchMeRequest struct {
	DisplayName *string `json:"display_name"`
	Bio         *string `json:"bio"`
}

// userChange answers a command on a user account.
type userChange struct {
	User     userDTO `json:"user"`
	Version  uint64  `json:"version"`
	Position uint64  `json:"position"`
}

// patchMe updates the caller's profile (PATCH /api/v1/me); absent fields keep their value.
func (s *Server) patchMe(c *gin.Context) {
	var req patchMeRequest
	if err := decodeJSON(c, &req, false); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	id := actorOf(c).ID
	cur, err := s.cfg.Commands.LoadUser(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	cmd := commands.UpdateProfile{UserID: id, DisplayName: cur.DisplayName, Bio: cur.Bio}
	if req.DisplayName != nil {
		cmd.DisplayName = *req.DisplayName
	}
	if req.Bio != nil {
		cmd.Bio = *req.Bio
	}
	res, err := s.cfg.Commands.UpdateProfile(ctx, s.meta(c), cmd)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeUserChange(c, id, res)
}

func (s *Server) writeUserChange(c *gin.Context, id string, res commands.Result) {
	s.users.forget(id)
	u, err := s.cfg.Commands.LoadUser(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("X-Event-Position", res.Position.String())
	c.Header("ETag", etag(res.Version))
	dto := newUserDTO(u)
	dto.Avatar = s.avatarOf(c.Request.Context(), u)
	c.JSON(http.StatusOK, userChange{User: dto, Version: res.Version, Position: uint64(res.Position)})
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// putPassword changes the caller's password (PUT /api/v1/me/password) and
// ends every other sign-in of the account (refresh and access tokens); the
// caller's own goes on. Wrong current passwords are rate limited per
// account and per IP, like sign-ins.
func (s *Server) putPassword(c *gin.Context) {
	var req passwordRequest
	if err := decodeJSON(c, &req, false); err != nil {
		s.fail(c, err)
		return
	}
	id, ip := actorOf(c).ID, c.ClientIP()
	if ok, d := s.limiter.AllowPasswordCheck(id, ip); !ok {
		s.rateLimited(c, d, "too many wrong current passwords; retry later")
		return
	}
	res, err := s.cfg.Commands.ChangePassword(c.Request.Context(), s.meta(c), commands.ChangePassword{
		UserID: id, CurrentPassword: req.CurrentPassword, NewPassword: req.NewPassword})
	if err != nil {
		if domain.CodeOf(err) == commands.CodeWrongPassword {
			s.limiter.PasswordCheckFailed(id, ip)
		} else {
			s.limiter.PasswordCheckAborted(id, ip)
		}
		s.fail(c, err)
		return
	}
	s.limiter.PasswordCheckPassed(id, ip)
	if err := s.EndUserSessions(c.Request.Context(), id, authOf(c).Session); err != nil {
		s.fail(c, err)
		return
	}
	s.writeUserChange(c, id, res)
}

type roleRequest struct {
	Role domain.Role `json:"role"`
}

// putRole changes a user's role (PUT /api/v1/users/{id}/role; admin, decided by commands).
func (s *Server) putRole(c *gin.Context) {
	var req roleRequest
	if err := decodeJSON(c, &req, false); err != nil {
		s.fail(c, err)
		return
	}
	id := c.Param("id")
	res, err := s.cfg.Commands.ChangeRole(c.Request.Context(), s.meta(c), commands.ChangeRole{UserID: id, Role: req.Role})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeUserChange(c, id, res)
}

type deactivateRequest struct {
	Reason string `json:"reason"`
}

// deactivateUser deactivates an account and revokes its refresh tokens
// (POST /api/v1/users/{id}/deactivate; admin).
func (s *Server) deactivateUser(c *gin.Context) {
	var req deactivateRequest
	if err := decodeJSON(c, &req, true); err != nil {
		s.fail(c, err)
		return
	}
	id := c.Param("id")
	res, err := s.cfg.Commands.DeactivateUser(c.Request.Context(), s.meta(c), commands.DeactivateUser{UserID: id, Reason: req.Reason})
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.EndUserSessions(c.Request.Context(), id, uuid.Nil); err != nil {
		s.fail(c, err)
		return
	}
	s.writeUserChange(c, id, res)
}

// reactivateUser lets a deactivated account sign in again (POST /api/v1/users/{id}/reactivate; admin).
func (s *Server) reactivateUser(c *gin.Context) {
	if err := decodeJSON(c, &struct{}{}, true); err != nil {
		s.fail(c, err)
		return
	}
	id := c.Param("id")
	res, err := s.cfg.Commands.ReactivateUser(c.Request.Context(), s.meta(c), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeUserChange(c, id, res)
}

func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }
