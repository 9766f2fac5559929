package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSessionsForWebUI(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	admin := e.register("admin")
	ss := e.srv.Sessions()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
		u, err := e.commands.Authenticate(r.Context(), "admin", testPassword)
		if err != nil {
			http.Error(w, err.Error(), 401)
			return
		}
		if err := ss.SignIn(w, r, u); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		if a, ok := ss.Actor(r); ok {
			_, _ = w.Write([]byte(a.ID + " " + string(a.Role)))
			return
		}
		_, _ = w.Write([]byte("anonymous"))
	})
	mux.HandleFunc("POST /signout", func(w http.ResponseWriter, r *http.Request) {
		if err := ss.SignOut(w, r); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	h := ss.Middleware(mux)
	call := func(method, path string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	cookiesOf := func(w *httptest.ResponseRecorder) map[string]*http.Cookie {
		m := map[string]*http.Cookie{}
		for _, c := range w.Result().Cookies() {
			m[c.Name] = c
		}
		return m
	}
	signin := cookiesOf(call("POST", "/signin"))
	access, refresh := signin[accessCookie], signin[refreshCookie]
	if access == nil || refresh == nil || !access.HttpOnly || !refresh.HttpOnly {
		t.Fatalf("sign-in cookies: %v", signin)
	}
	want := admin.ID + " admin"
	if got := call("GET", "/whoami", access).Body.String(); got != want {
		t.Fatalf("with access cookie: %q", got)
	}
	if got := call("GET", "/whoami").Body.String(); got != "anonymous" {
		t.Fatalf("without cookies: %q", got)
	}
	// Only the refresh cookie: the middleware renews the session.
	w := call("GET", "/whoami", refresh)
	if got := w.Body.String(); got != want {
		t.Fatalf("renewed: %q", got)
	}
	renewed := cookiesOf(w)
	if renewed[accessCookie] == nil || renewed[refreshCookie] == nil || renewed[refreshCookie].Value == refresh.Value {
		t.Fatalf("renewal cookies: %v", renewed)
	}
	// Replaying the old refresh cookie revokes the family.
	if got := call("GET", "/whoami", refresh).Body.String(); got != "anonymous" {
		t.Fatalf("reused refresh cookie: %q", got)
	}
	if got := call("GET", "/whoami", renewed[refreshCookie]).Body.String(); got != "anonymous" {
		t.Fatalf("successor after reuse: %q", got)
	}
	// Sign out revokes.
	s2 := cookiesOf(call("POST", "/signin"))
	call("POST", "/signout", s2[refreshCookie])
	if got := call("GET", "/whoami", s2[refreshCookie]).Body.String(); got != "anonymous" {
		t.Fatalf("after sign-out: %q", got)
	}
	// ... and its access cookie, which the API refuses from then on.
	e.must(401, req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Cookie": accessCookie + "=" + s2[accessCookie].Value}})
	if got := call("GET", "/whoami", s2[accessCookie]).Body.String(); got != "anonymous" {
		t.Fatalf("access cookie after sign-out: %q", got)
	}
	// The API accepts a web session's access cookie.
	s3 := cookiesOf(call("POST", "/signin"))
	e.must(200, req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Cookie": accessCookie + "=" + s3[accessCookie].Value}})
}
