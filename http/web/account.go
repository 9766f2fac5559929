package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/http/ratelimit"
)

// meta returns the command metadata of c: the actor and the request id.
func (ui *UI) meta(c *gin.Context) commands.Meta {
	id := c.GetHeader("X-Request-ID")
	if id == "" || len(id) > 128 {
		id = uuid.NewString()
	}
	return commands.Meta{Actor: actorOf(c), CorrelationID: id}
}

// wait blocks until the projections reached pos (bounded), so the next page
// shows the change. A timeout only logs: the page may then lag.
func (ui *UI) wait(ctx context.Context, pos eventstore.Position) {
	if pos == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, ui.cfg.WaitTimeout)
	defer cancel()
	if err := ui.cfg.Waiter.WaitFor(ctx, pos, ui.cfg.ReadModels...); err != nil {
		ui.log.Warn("web: projections did not catch up", "position", pos, "err", err)
	}
	if ui.gens != nil {
		ui.gens.wrote() // no cached public page predates the change (cache.go)
	}
}

// safeNext returns next when it is a local path, else "/".
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (ui *UI) signInForm(c *gin.Context) {
	p := ui.newPage(c, "Sign in")
	p.Data["Next"] = safeNext(c.Query("next"))
	ui.render(c, http.StatusOK, "signin", p)
}

// signIn checks the credentials and starts a session. Failures draw on the
// same per-account and per-IP budgets as the JSON API's sign-in (the shared
// Config.Limiter); an exhausted budget answers 429 with Retry-After.
func (ui *UI) signIn(c *gin.Context) {
	login, password := strings.TrimSpace(c.PostForm("login")), c.PostForm("password")
	next := safeNext(c.PostForm("next"))
	page := func(msg string) *page {
		p := ui.newPage(c, "Sign in")
		p.Data["Next"] = next
		p.Data["Login"] = login
		p.Error = msg
		return p
	}
	ip := c.ClientIP()
	if ok, d := ui.limiter.AllowLogin(login, ip); !ok {
		c.Header("Retry-After", ratelimit.RetryAfter(d))
		ui.render(c, http.StatusTooManyRequests, "signin", page("Too many failed sign-ins. Please try again in "+waitText(d)+"."))
		return
	}
	user, err := ui.cfg.Commands.Authenticate(c.Request.Context(), login, password)
	if err != nil {
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindUnauthenticated && de.Kind != domain.KindInvalid {
			ui.limiter.LoginAborted(login, ip)
			ui.fail(c, err)
			return
		}
		if de.Kind == domain.KindUnauthenticated {
			ui.limiter.LoginFailed(login, ip)
		} else {
			ui.limiter.LoginAborted(login, ip)
		}
		msg := "Wrong username, email or password."
		if de.Code == "account_deactivated" {
			msg = "This account is deactivated."
		}
		ui.render(c, http.StatusUnauthorized, "signin", page(msg))
		return
	}
	ui.limiter.LoginSucceeded(login, ip)
	if err := ui.cfg.Sessions.SignIn(c.Writer, c.Request, user); err != nil {
		ui.fail(c, err)
		return
	}
	ui.rotateCSRF(c)
	redirect(c, next, "")
}

func (ui *UI) signUpForm(c *gin.Context) {
	ui.render(c, http.StatusOK, "signup", ui.newPage(c, "Create an account"))
}

// signUp registers an account and signs it in. Sign-ups are limited per
// client IP (the shared Config.Limiter); an exhausted budget answers 429
// with Retry-After and the form kept. Sign-ups refused by validation give
// their reservation back.
func (ui *UI) signUp(c *gin.Context) {
	cmd := commands.RegisterUser{
		Email: strings.TrimSpace(c.PostForm("email")), Username: strings.TrimSpace(c.PostForm("username")),
		DisplayName: strings.TrimSpace(c.PostForm("display_name")), Password: c.PostForm("password"),
	}
	formDisplayName := cmd.DisplayName
	if cmd.DisplayName == "" {
		cmd.DisplayName = cmd.Username
	}
	ip := c.ClientIP()
	if ok, d := ui.limiter.AllowRegistration(ip); !ok {
		p := ui.newPage(c, "Create an account")
		p.Error = "Too many accounts were created from your network. Please try again in " + waitText(d) + "."
		form := cmd
		form.DisplayName, form.Password = formDisplayName, ""
		p.Data["Form"] = form
		c.Header("Retry-After", ratelimit.RetryAfter(d))
		ui.render(c, http.StatusTooManyRequests, "signup", p)
		return
	}
	m := ui.meta(c)
	m.Actor = domain.Actor{}
	res, user, err := ui.cfg.Commands.RegisterUser(c.Request.Context(), m, cmd)
	if err != nil {
		if domain.KindOf(err) == domain.KindInvalid {
			ui.limiter.RegistrationAborted(ip)
		}
		msg, ok := userMessage(err)
		if !ok {
			ui.fail(c, err)
			return
		}
		p := ui.newPage(c, "Create an account")
		p.Fields, _, _ = fieldErrors(err)
		p.Error = msg
		switch domain.CodeOf(err) {
		case "email_taken":
			p.Fields = map[string][]string{"email": {"This email is already registered."}}
		case "username_taken":
			p.Fields = map[string][]string{"username": {"This username is taken."}}
		}
		if cmd.DisplayName == cmd.Username {
			cmd.DisplayName = ""
		}
		p.Data["Form"] = cmd
		ui.render(c, statusOf(domain.KindOf(err)), "signup", p)
		return
	}
	if err := ui.cfg.Sessions.SignIn(c.Writer, c.Request, user); err != nil {
		ui.fail(c, err)
		return
	}
	ui.rotateCSRF(c)
	ui.wait(c.Request.Context(), res.Position)
	redirect(c, "/profile", "welcome")
}

// waitText says how long d is in words, rounded up to whole minutes.
func waitText(d time.Duration) string {
	m := int((d + time.Minute - 1) / time.Minute)
	if m <= 1 {
		return "a minute"
	}
	return strconv.Itoa(m) + " minutes"
}

func (ui *UI) signOut(c *gin.Context) {
	if err := ui.cfg.Sessions.SignOut(c.Writer, c.Request); err != nil {
		ui.fail(c, err)
		return
	}
	ui.rotateCSRF(c)
	redirect(c, "/", "signedout")
}

func (ui *UI) profile(c *gin.Context) {
	ui.render(c, http.StatusOK, "profile", ui.profilePage(c))
}

// profilePage is the profile page without messages.
func (ui *UI) profilePage(c *gin.Context) *page {
	p := ui.newPage(c, "Your profile")
	p.Avatar = ui.avatarURL(c.Request.Context(), p.User)
	p.Data["EndSessions"] = ui.cfg.EndSessions != nil
	return p
}

func (ui *UI) saveProfile(c *gin.Context) {
	a := actorOf(c)
	res, err := ui.cfg.Commands.UpdateProfile(c.Request.Context(), ui.meta(c), commands.UpdateProfile{
		UserID: a.ID, DisplayName: strings.TrimSpace(c.PostForm("display_name")), Bio: strings.TrimSpace(c.PostForm("bio")),
	})
	if err != nil {
		ui.profileError(c, err)
		return
	}
	ui.wait(c.Request.Context(), res.Position)
	msg := "profile"
	if !res.Changed {
		msg = "nochanges"
	}
	redirect(c, "/profile", msg)
}

// changePassword changes the signed-in user's password. Wrong current
// passwords spend the same budgets as the JSON API's (the shared
// Config.Limiter); an exhausted one answers 429 with Retry-After.
func (ui *UI) changePassword(c *gin.Context) {
	a, ip := actorOf(c), c.ClientIP()
	if ok, d := ui.limiter.AllowPasswordCheck(a.ID, ip); !ok {
		c.Header("Retry-After", ratelimit.RetryAfter(d))
		ui.profileError(c, domain.Errorf(domain.KindRateLimited, "rate_limited",
			"Too many wrong passwords. Please try again in %s.", waitText(d)))
		return
	}
	_, err := ui.cfg.Commands.ChangePassword(c.Request.Context(), ui.meta(c), commands.ChangePassword{
		UserID: a.ID, CurrentPassword: c.PostForm("current_password"), NewPassword: c.PostForm("new_password"),
	})
	if err != nil {
		if domain.CodeOf(err) == commands.CodeWrongPassword {
			ui.limiter.PasswordCheckFailed(a.ID, ip)
		} else {
			ui.limiter.PasswordCheckAborted(a.ID, ip)
		}
		ui.profileError(c, err)
		return
	}
	ui.limiter.PasswordCheckPassed(a.ID, ip)
	// Other sign-ins end; this one is bound to the old password: renew it.
	if err := ui.restartSessions(c, a.ID); err != nil {
		ui.fail(c, err)
		return
	}
	redirect(c, "/profile", "password")
}

// endOtherSessions ends every sign-in of the account but this browser's
// (POST /profile/sessions; offered when Config.EndSessions is set).
func (ui *UI) endOtherSessions(c *gin.Context) {
	if ui.cfg.EndSessions == nil {
		ui.NotFound(c)
		return
	}
	if err := ui.restartSessions(c, actorOf(c).ID); err != nil {
		ui.fail(c, err)
		return
	}
	redirect(c, "/profile", "sessions")
}

// restartSessions ends every sign-in of userID kept outside the cookie
// (Config.EndSessions, if set), then signs this browser in anew.
func (ui *UI) restartSessions(c *gin.Context, userID string) error {
	ctx := c.Request.Context()
	if ui.cfg.EndSessions != nil {
		if err := ui.cfg.EndSessions(ctx, userID); err != nil {
			return err
		}
	}
	user, err := ui.cfg.Commands.LoadUser(ctx, userID)
	if err != nil {
		return err
	}
	return ui.cfg.Sessions.SignIn(c.Writer, c.Request, user)
}

// profileError re-renders the profile page with err's message or fails.
func (ui *UI) profileError(c *gin.Context, err error) {
	msg, ok := userMessage(err)
	if !ok {
		ui.fail(c, err)
		return
	}
	p := ui.profilePage(c)
	p.Fields, _, _ = fieldErrors(err)
	if domain.CodeOf(err) == commands.CodeWrongPassword && len(p.Fields) == 0 {
		p.Fields = map[string][]string{"current_password": {"This is not your current password."}}
	}
	p.Error = msg
	ui.render(c, statusOf(domain.KindOf(err)), "profile", p)
}
