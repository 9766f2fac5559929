package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
)

func TestAccessTokenAttacks(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	e.must(200, req{Method: "GET", Path: "/api/v1/me", Token: admin.Access})

	key := e.srv.tokens.key
	claims := func() accessClaims {
		now := time.Now()
		return accessClaims{Role: domain.RoleAdmin, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "palimpsest", Subject: admin.ID, Audience: jwt.ClaimStrings{"palimpsest-api"},
			ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "x"}}
	}
	sign := func(m jwt.SigningMethod, k any, c accessClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(k)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return s
	}
	tamper := func(tok string) string {
		parts := strings.Split(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		m["sub"] = "00000000-0000-0000-0000-000000000000"
		raw, _ = json.Marshal(m)
		parts[1] = base64.RawURLEncoding.EncodeToString(raw)
		return strings.Join(parts, ".")
	}
	expired := claims()
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
	expired.IssuedAt = jwt.NewNumericDate(time.Now().Add(-20 * time.Minute))
	wrongAud := claims()
	wrongAud.Audience = jwt.ClaimStrings{"someone-else"}
	wrongIss := claims()
	wrongIss.Issuer = "evil"
	noExp := claims()
	noExp.ExpiresAt = nil
	badRole := claims()
	badRole.Role = "superuser"
	tests := []struct {
		name, token string
	}{
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims())},
		{"wrong key", sign(jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), claims())},
		{"HS512 with the right key", sign(jwt.SigningMethodHS512, key, claims())},
		{"tampered payload", tamper(admin.Access)},
		{"expired", sign(jwt.SigningMethodHS256, key, expired)},
		{"wrong audience", sign(jwt.SigningMethodHS256, key, wrongAud)},
		{"wrong issuer", sign(jwt.SigningMethodHS256, key, wrongIss)},
		{"no expiry", sign(jwt.SigningMethodHS256, key, noExp)},
		{"unknown role", sign(jwt.SigningMethodHS256, key, badRole)},
		{"garbage", "not.a.token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(req{Method: "GET", Path: "/api/v1/me", Token: tt.token})
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; %s", r.Status, r.Body)
			}
			if p := r.problem(t); p.Code != "invalid_token" {
				t.Fatalf("code %q", p.Code)
			}
		})
	}
	// The control: a correctly signed token with these claims works.
	e.must(200, req{Method: "GET", Path: "/api/v1/me", Token: sign(jwt.SigningMethodHS256, key, claims())})
	// A malformed Authorization scheme is refused too.
	r := e.do(req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Authorization": "Basic YTpi"}})
	if r.Status != 401 {
		t.Fatalf("basic auth: %d", r.Status)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	refresh := func(tok string) resp {
		return e.do(req{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]any{"refresh_token": tok}})
	}
	r1 := refresh(admin.Refresh)
	if r1.Status != 200 {
		t.Fatalf("refresh: %d %s", r1.Status, r1.Body)
	}
	var s struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	r1.json(t, &s)
	if s.RefreshToken == "" || s.RefreshToken == admin.Refresh || s.AccessToken == "" {
		t.Fatalf("no new pair: %s", r1.Body)
	}
	e.must(200, req{Method: "GET", Path: "/api/v1/me", Token: s.AccessToken})
	// Reusing the rotated token revokes the family.
	r2 := refresh(admin.Refresh)
	if r2.Status != 401 || r2.problem(t).Code != "refresh_token_reused" {
		t.Fatalf("reuse: %d %s", r2.Status, r2.Body)
	}
	r3 := refresh(s.RefreshToken)
	if r3.Status != 401 || r3.problem(t).Code != "invalid_refresh_token" {
		t.Fatalf("successor after reuse: %d %s", r3.Status, r3.Body)
	}
	// So does the access token issued with the successor: the family is one sign-in.
	if r := e.do(req{Method: "GET", Path: "/api/v1/me", Token: s.AccessToken}); r.Status != 401 {
		t.Fatalf("access token of the revoked family: %d %s", r.Status, r.Body)
	}
	// The database holds only hashes.
	var n int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM auth_refresh_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'`, s.RefreshToken[:16]).Scan(&n); err != nil || n != 0 {
		t.Fatalf("plain token stored? n=%d err=%v", n, err)
	}
	// Logout revokes.
	other := e.login("admin", testPassword)
	e.must(204, req{Method: "POST", Path: "/api/v1/auth/logout", Token: other.Access, Body: map[string]any{"refresh_token": other.Refresh}})
	if r := refresh(other.Refresh); r.Status != 401 {
		t.Fatalf("refresh after logout: %d", r.Status)
	}
}

// TestSignOutEndsAccessTokens: signing out revokes the sign-in's access
// token at once, not when it expires; other sign-ins go on.
func TestSignOutEndsAccessTokens(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.register("admin")
	a, b := e.login("admin", testPassword), e.login("admin", testPassword)
	me := func(tok string) int { return e.do(req{Method: "GET", Path: "/api/v1/me", Token: tok}).Status }
	if me(a.Access) != 200 || me(b.Access) != 200 {
		t.Fatal("fresh sign-ins refused")
	}
	e.must(204, req{Method: "POST", Path: "/api/v1/auth/logout", Token: a.Access, Body: map[string]any{"refresh_token": a.Refresh}})
	if st := me(a.Access); st != 401 {
		t.Fatalf("access token after its sign-out: %d", st)
	}
	if st := me(b.Access); st != 200 {
		t.Fatalf("other sign-in after a sign-out: %d", st)
	}
}

// TestPasswordChangeEndsOtherSessions: a password change through the API
// ends every other sign-in of the account (access and refresh tokens),
// while the caller's goes on; one through the web UI ends them all.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	other := e.login("admin", testPassword)
	e.must(200, req{Method: "PUT", Path: "/api/v1/me/password", Token: admin.Access,
		Body: map[string]any{"current_password": testPassword, "new_password": "a brand new secret"}})
	e.must(200, req{Method: "GET", Path: "/api/v1/me", Token: admin.Access})
	e.must(200, req{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]any{"refresh_token": admin.Refresh}})
	e.must(401, req{Method: "GET", Path: "/api/v1/me", Token: other.Access})
	e.must(401, req{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]any{"refresh_token": other.Refresh}})

	// Through the UI, wired as cmd/cms wires it.
	api := e.login("admin", "a brand new secret")
	site := uiServerWith(t, e, nil, true)
	c := newUIClient(t, site).signIn("admin", "a brand new secret")
	if st, _, body := c.post("/profile/password", url.Values{"current_password": {"a brand new secret"}, "new_password": {"yet another secret"}}); st != http.StatusSeeOther {
		t.Fatalf("UI password change: %d %s", st, body)
	}
	e.must(401, req{Method: "GET", Path: "/api/v1/me", Token: api.Access})
	e.must(401, req{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]any{"refresh_token": api.Refresh}})
	if st := c.get("/profile"); st != http.StatusOK {
		t.Fatalf("the UI session that changed the password: %d", st)
	}
}

// TestUISignOutEndsCopiedCookies: with the UI's sessions kept by the API
// (as cmd/cms wires them), signing out of the UI ends the sign-in for any
// copy of its cookie too, and an admin's deactivation or an API password
// change ends UI sign-ins.
func TestUISignOutEndsCopiedCookies(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	u := e.register("writer")
	site := uiServerWith(t, e, nil, true)
	signedIn := func(login, password string) *uiClient { return newUIClient(t, site).signIn(login, password) }
	c := signedIn("writer", testPassword)
	thief := c.clone()
	if st := thief.get("/profile"); st != http.StatusOK {
		t.Fatalf("copied cookie before sign-out: %d", st)
	}
	if st, _, _ := c.post("/signout", url.Values{}); st != http.StatusSeeOther {
		t.Fatalf("sign out: %d", st)
	}
	if st := thief.get("/profile"); st != http.StatusSeeOther { // to the sign-in page
		t.Fatalf("copied cookie after sign-out: %d", st)
	}
	// A password change through the API, and a deactivation, end UI sign-ins.
	c = signedIn("writer", testPassword)
	e.must(200, req{Method: "PUT", Path: "/api/v1/me/password", Token: u.Access,
		Body: map[string]any{"current_password": testPassword, "new_password": "a brand new secret"}})
	if st := c.get("/profile"); st != http.StatusSeeOther {
		t.Fatalf("UI sign-in after an API password change: %d", st)
	}
	c = signedIn("writer", "a brand new secret")
	e.must(200, req{Method: "POST", Path: "/api/v1/users/" + u.ID + "/deactivate", Token: admin.Access})
	if st := c.get("/profile"); st != http.StatusSeeOther {
		t.Fatalf("UI sign-in after deactivation: %d", st)
	}
}

func TestDeactivatedUserLockedOut(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.UserCacheTTL = time.Nanosecond })
	admin := e.register("admin")
	reader := e.register("reader")
	e.must(200, req{Method: "GET", Path: "/api/v1/me", Token: reader.Access})
	e.must(200, req{Method: "POST", Path: "/api/v1/users/" + reader.ID + "/deactivate", Token: admin.Access, Body: map[string]any{"reason": "spam"}})
	checks := []struct {
		name string
		r    req
	}{
		{"access token", req{Method: "GET", Path: "/api/v1/me", Token: reader.Access}},
		{"login", req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"login": "reader", "password": testPassword}}},
		{"refresh", req{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]any{"refresh_token": reader.Refresh}}},
	}
	for _, c := range checks {
		if r := e.do(c.r); r.Status != 401 {
			t.Errorf("%s: status %d, want 401; %s", c.name, r.Status, r.Body)
		}
	}
	e.must(200, req{Method: "POST", Path: "/api/v1/users/" + reader.ID + "/reactivate", Token: admin.Access})
	e.login("reader", testPassword)
}

// TestRoleChangeTakesEffectAtOnce: the token's role claim is not trusted
// for authorization; the account's current role is. A promotion works
// with the token already held, a demotion takes rights away from it, and
// a refresh then carries the new role.
func TestRoleChangeTakesEffectAtOnce(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	u := e.register("writer")
	draft := req{Method: "POST", Path: "/api/v1/posts", Token: u.Access, Body: map[string]any{"title": "a", "body": "b"}}
	e.must(403, draft)
	e.must(200, req{Method: "PUT", Path: "/api/v1/users/" + u.ID + "/role", Token: admin.Access, Body: map[string]any{"role": "author"}})
	e.must(201, draft) // same token, role claim still "reader"
	r := e.must(200, req{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]any{"refresh_token": u.Refresh}})
	var s struct {
		User struct {
			Role string `json:"role"`
		} `json:"user"`
	}
	r.json(t, &s)
	if s.User.Role != "author" {
		t.Fatalf("role after refresh: %q", s.User.Role)
	}
	// A second admin demoted: its token, which says admin, no longer is.
	boss := e.register("boss")
	e.must(200, req{Method: "PUT", Path: "/api/v1/users/" + boss.ID + "/role", Token: admin.Access, Body: map[string]any{"role": "admin"}})
	e.must(200, req{Method: "GET", Path: "/api/v1/users", Token: boss.Access})
	e.must(200, req{Method: "PUT", Path: "/api/v1/users/" + boss.ID + "/role", Token: admin.Access, Body: map[string]any{"role": "reader"}})
	e.must(403, req{Method: "GET", Path: "/api/v1/users", Token: boss.Access})
	e.must(403, req{Method: "PUT", Path: "/api/v1/users/" + u.ID + "/role", Token: boss.Access, Body: map[string]any{"role": "admin"}})
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Login = LoginLimits{PerAccount: 3, PerIP: 5, Window: time.Hour} })
	e.register("admin")
	bad := req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"login": "admin", "password": "wrong password!"}}
	for i := 0; i < 3; i++ {
		if r := e.do(bad); r.Status != 401 || r.problem(t).Code != "invalid_credentials" {
			t.Fatalf("attempt %d: %d %s", i, r.Status, r.Body)
		}
	}
	r := e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"login": "ADMIN", "password": testPassword}})
	if r.Status != 429 || r.Header.Get("Retry-After") == "" || r.problem(t).Code != "rate_limited" {
		t.Fatalf("after 3 failures: %d %v %s", r.Status, r.Header, r.Body)
	}
	// Per IP: other accounts from the same address are limited after 5 failures in all.
	for i := 0; i < 2; i++ {
		e.must(401, req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"login": "nobody", "password": "wrong password!"}})
	}
	e.must(429, req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"login": "someone", "password": "wrong password!"}})
}

func TestCookieSessionNeedsCSRF(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.register("admin")
	r := e.must(200, req{Method: "POST", Path: "/api/v1/auth/login", Header: map[string]string{"X-Session": "cookie"},
		Body: map[string]any{"login": "admin", "password": testPassword}})
	var s struct {
		AccessToken string `json:"access_token"`
		CSRFToken   string `json:"csrf_token"`
	}
	r.json(t, &s)
	if s.AccessToken != "" || s.CSRFToken == "" {
		t.Fatalf("cookie session body: %s", r.Body)
	}
	cookies := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		cookies[c.Name] = c
	}
	acc, ref, csrf := cookies[accessCookie], cookies[refreshCookie], cookies[csrfCookie]
	if acc == nil || !acc.HttpOnly || acc.SameSite != http.SameSiteLaxMode || ref == nil || !ref.HttpOnly ||
		ref.SameSite != http.SameSiteStrictMode || csrf == nil || csrf.HttpOnly || csrf.Value != s.CSRFToken {
		t.Fatalf("cookies: %+v %+v %+v", acc, ref, csrf)
	}
	cookieHeader := accessCookie + "=" + acc.Value + "; " + csrfCookie + "=" + csrf.Value
	post := func(h map[string]string) resp {
		h["Cookie"] = cookieHeader
		return e.do(req{Method: "POST", Path: "/api/v1/posts", Header: h, Body: map[string]any{"title": "Cookie post", "body": "b"}})
	}
	if got := post(map[string]string{}); got.Status != 403 || got.problem(t).Code != "csrf_failed" {
		t.Fatalf("no csrf: %d %s", got.Status, got.Body)
	}
	if got := post(map[string]string{csrfHeader: "wrong"}); got.Status != 403 {
		t.Fatalf("wrong csrf: %d %s", got.Status, got.Body)
	}
	if got := post(map[string]string{csrfHeader: s.CSRFToken}); got.Status != 201 {
		t.Fatalf("with csrf: %d %s", got.Status, got.Body)
	}
	// A stale access cookie is ignored: public reads work, signed-in ones are 401.
	stale := map[string]string{"Cookie": accessCookie + "=garbage"}
	e.must(200, req{Method: "GET", Path: "/api/v1/tags", Header: stale})
	e.must(401, req{Method: "GET", Path: "/api/v1/me", Header: stale})
	// Safe requests with the cookie need no CSRF token.
	e.must(200, req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Cookie": cookieHeader}})
	// Refresh from the cookie needs CSRF too.
	refCookie := refreshCookie + "=" + ref.Value + "; " + csrfCookie + "=" + csrf.Value
	e.must(403, req{Method: "POST", Path: "/api/v1/auth/refresh", Header: map[string]string{"Cookie": refCookie}})
	e.must(200, req{Method: "POST", Path: "/api/v1/auth/refresh", Header: map[string]string{"Cookie": refCookie, csrfHeader: s.CSRFToken}})
}

// TestShortCacheForgetDuringLoad: a value loaded while the entry was
// forgotten may predate the change that made the node forget it, so it is
// returned but not stored: the next get loads again.
func TestShortCacheForgetDuringLoad(t *testing.T) {
	now := time.Now()
	c := newShortCache[int](time.Hour, func() time.Time { return now })
	loads := 0
	load := func(v int) func(context.Context, string) (int, error) {
		return func(context.Context, string) (int, error) { loads++; return v, nil }
	}
	stale := func(context.Context, string) (int, error) {
		loads++
		c.forget("k") // the change commits and is forgotten while this load runs
		return 1, nil
	}
	if v, _ := c.get(t.Context(), "k", stale); v != 1 {
		t.Fatalf("first get = %d", v)
	}
	if v, _ := c.get(t.Context(), "k", load(2)); v != 2 || loads != 2 {
		t.Fatalf("after a forget during the load: %d (loads %d), want a fresh 2", v, loads)
	}
	if v, _ := c.get(t.Context(), "k", load(3)); v != 2 || loads != 2 {
		t.Fatalf("cached value: %d (loads %d), want 2 from the cache", v, loads)
	}
	c.forgetAll()
	if v, _ := c.get(t.Context(), "k", load(4)); v != 4 {
		t.Fatalf("after forgetAll: %d", v)
	}
}

// TestLogoutOthers: POST /api/v1/auth/logout-others ends every sign-in of
// the account but the caller's: other API sessions (access and refresh
// tokens) and web UI sign-ins; the caller's goes on.
func TestLogoutOthers(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	me := e.register("admin")
	other := e.login("admin", testPassword)
	site := uiServerWith(t, e, nil, true)
	browser := newUIClient(t, site).signIn("admin", testPassword)
	e.must(204, req{Method: "POST", Path: "/api/v1/auth/logout-others", Token: me.Access})
	e.must(200, req{Method: "GET", Path: "/api/v1/me", Token: me.Access})
	e.must(200, req{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]any{"refresh_token": me.Refresh}})
	e.must(401, req{Method: "GET", Path: "/api/v1/me", Token: other.Access})
	e.must(401, req{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]any{"refresh_token": other.Refresh}})
	if st := browser.get("/profile"); st != http.StatusSeeOther {
		t.Fatalf("UI sign-in after logout-others: %d", st)
	}
	e.must(401, req{Method: "POST", Path: "/api/v1/auth/logout-others"})
}

// TestUISignOutEverywhereElse: the profile page's "sign out everywhere
// else" ends the account's other sign-ins, UI and API, and keeps this
// browser signed in. Without Config.EndSessions the UI offers no such
// button and the route is not found.
func TestUISignOutEverywhereElse(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.register("admin")
	api := e.login("admin", testPassword)
	site := uiServerWith(t, e, nil, true)
	here, there := newUIClient(t, site).signIn("admin", testPassword), newUIClient(t, site).signIn("admin", testPassword)
	if !strings.Contains(here.body("/profile"), "Sign out everywhere else") {
		t.Fatal("the profile page offers no way to end the other sessions")
	}
	st, h, _ := here.post("/profile/sessions", url.Values{})
	if st != http.StatusSeeOther || h.Get("Location") != "/profile?msg=sessions" {
		t.Fatalf("sign out everywhere else: %d %q", st, h.Get("Location"))
	}
	if st := here.get("/profile"); st != http.StatusOK {
		t.Fatalf("this browser after signing out everywhere else: %d", st)
	}
	if st := there.get("/profile"); st != http.StatusSeeOther {
		t.Fatalf("another browser: %d", st)
	}
	e.must(401, req{Method: "GET", Path: "/api/v1/me", Token: api.Access})

	plain := newUIClient(t, uiServer(t, e, nil)).signIn("admin", testPassword)
	if strings.Contains(plain.body("/profile"), "Sign out everywhere else") {
		t.Fatal("the profile page offers a button that cannot work")
	}
	if st, _, body := plain.post("/profile/sessions", url.Values{}); st != http.StatusNotFound {
		t.Fatalf("without EndSessions: %d %s", st, body)
	}
}
