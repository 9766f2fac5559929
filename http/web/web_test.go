package web_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	web "github.com/palimpsest-cms/palimpsest/http/web"
)

// fixture is a populated site with one signed-in client per role.
type fixture struct {
	e         *env
	clients   map[string]*client // by role name, plus "anonymous" and "author2"
	users     map[string]*domain.User
	published commands.Result // by author, published by the editor
	draft     commands.Result // by author, two revisions
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	f := &fixture{e: e, clients: map[string]*client{}, users: map[string]*domain.User{}}
	admin := e.user(nil, "admin", domain.RoleAdmin)
	f.users["admin"] = admin
	for _, u := range []struct {
		name string
		role domain.Role
	}{{"author", domain.RoleAuthor}, {"author2", domain.RoleAuthor}, {"editor", domain.RoleEditor},
		{"auditor", domain.RoleAuditor}, {"reader", domain.RoleReader}} {
		f.users[u.name] = e.user(admin, u.name, u.role)
	}
	author := commands.Meta{Actor: f.users["author"].Actor()}
	editor := commands.Meta{Actor: f.users["editor"].Actor()}
	pub, err := e.cmds.DraftPost(ctx, author, commands.DraftPost{Title: "Hello World", Body: "The *first* post.\n\nSecond paragraph.",
		Excerpt: "A greeting", Tags: []string{"intro", "go"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.published, err = e.cmds.PublishPost(ctx, editor, commands.PostRef{PostID: pub.ID, ExpectedVersion: pub.Version}); err != nil {
		t.Fatal(err)
	}
	d, err := e.cmds.DraftPost(ctx, author, commands.DraftPost{Title: "Secret Draft", Body: "one\ntwo\nthree\n"})
	if err != nil {
		t.Fatal(err)
	}
	body := "one\ntwo changed words\nthree\n"
	if f.draft, err = e.cmds.EditPost(ctx, author, commands.EditPost{PostID: d.ID, ExpectedVersion: d.Version, Body: &body}); err != nil {
		t.Fatal(err)
	}
	f.clients["anonymous"] = e.client()
	for name, u := range f.users {
		c := e.client()
		c.signIn(u.Username, "password-"+u.Username)
		f.clients[name] = c
	}
	f.waitForFixture()
	return f
}

// waitFor polls the home page until the projections show the fixture.
func (f *fixture) waitForFixture() {
	f.e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := f.clients["admin"].get("/desk/posts/" + f.draft.ID + "/history")
		if r.status == http.StatusOK && strings.Contains(r.body, "PostEdited") {
			h := f.clients["anonymous"].get("/")
			if strings.Contains(h.body, "Hello World") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.e.t.Fatal("projections did not catch up with the fixture")
}

func TestPagesByRole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pub, draft := f.published.ID, f.draft.ID
	const (
		ok   = http.StatusOK
		forb = http.StatusForbidden
		nf   = http.StatusNotFound
		sign = http.StatusSeeOther // anonymous: sent to /signin
	)
	at := url.QueryEscape(time.Now().UTC().Format("2006-01-02T15:04"))
	roles := []string{"anonymous", "reader", "author", "author2", "editor", "auditor", "admin"}
	tests := []struct {
		path string
		want []int // by roles above
		text string
	}{
		{"/", []int{ok, ok, ok, ok, ok, ok, ok}, "Hello World"},
		{"/posts/hello-world", []int{ok, ok, ok, ok, ok, ok, ok}, "<em>first</em>"},
		{"/posts/secret-draft", []int{nf, nf, ok, nf, ok, ok, ok}, "Secret Draft"},
		{"/tags/intro", []int{ok, ok, ok, ok, ok, ok, ok}, "Hello World"},
		{"/authors/author", []int{ok, ok, ok, ok, ok, ok, ok}, "Posts by Author"},
		{"/authors/nobody", []int{nf, nf, nf, nf, nf, nf, nf}, "Page not found"},
		{"/search?q=paragraph", []int{ok, ok, ok, ok, ok, ok, ok}, "Hello World"},
		{"/signin", []int{ok, ok, ok, ok, ok, ok, ok}, "Sign in"},
		{"/signup", []int{ok, ok, ok, ok, ok, ok, ok}, "Create an account"},
		{"/profile", []int{sign, ok, ok, ok, ok, ok, ok}, "Change password"},
		{"/desk", []int{sign, forb, ok, ok, ok, ok, ok}, "Editor&#39;s desk"},
		{"/desk/posts/new", []int{sign, forb, ok, ok, ok, forb, ok}, "New post"},
		{"/desk/posts/" + draft + "/edit", []int{sign, forb, ok, forb, ok, forb, ok}, "two changed words"},
		{"/desk/posts/" + draft + "/history", []int{sign, forb, ok, forb, ok, ok, ok}, "PostEdited"},
		{"/desk/posts/" + draft + "/diff?from=1&to=2", []int{sign, forb, ok, forb, ok, ok, ok}, `<ins class="word-ins">`},
		{"/desk/posts/" + draft + "/diff?from=1&to=2&view=inline", []int{sign, forb, ok, forb, ok, ok, ok}, `diff-inline`},
		{"/desk/posts/" + draft + "/revisions/1", []int{sign, forb, ok, forb, ok, ok, ok}, "Revision 1"},
		{"/desk/posts/" + draft + "/at?t=" + at, []int{sign, forb, ok, forb, ok, ok, ok}, "two changed words"},
		{"/desk/posts/" + draft + "/at?version=1", []int{sign, forb, ok, forb, ok, ok, ok}, "<p>one\ntwo\nthree</p>"},
		{"/desk/media", []int{sign, forb, ok, ok, ok, ok, ok}, "Media library"},
		{"/audit", []int{sign, forb, forb, forb, forb, ok, ok}, "PostPublished"},
		{"/audit?type=PostPublished&stream=post-", []int{sign, forb, forb, forb, forb, ok, ok}, "post-" + pub},
		{"/audit/posts/" + pub + "/events", []int{sign, forb, forb, forb, forb, ok, ok}, "PostDrafted"},
		{"/admin/users", []int{sign, forb, forb, forb, forb, forb, ok}, "auditor@example.test"},
		{"/admin/projections", []int{sign, forb, forb, forb, forb, forb, ok}, "posts_v1"},
		{"/no/such/page", []int{nf, nf, nf, nf, nf, nf, nf}, "Page not found"},
	}
	for _, tt := range tests {
		for i, role := range roles {
			r := f.clients[role].get(tt.path)
			if r.status != tt.want[i] {
				t.Errorf("%s as %s: status %d, want %d", tt.path, role, r.status, tt.want[i])
				continue
			}
			switch r.status {
			case ok:
				if !strings.Contains(r.body, tt.text) {
					t.Errorf("%s as %s: body lacks %q", tt.path, role, tt.text)
				}
			case forb:
				if !strings.Contains(r.body, "Access denied") {
					t.Errorf("%s as %s: 403 without the friendly page", tt.path, role)
				}
			case sign:
				if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/signin?next=") {
					t.Errorf("%s as %s: redirect to %q", tt.path, role, loc)
				}
			}
			if r.status != sign {
				checkHeaders(t, tt.path, r)
			}
		}
	}
}

func checkHeaders(t *testing.T, path string, r response) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": web.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "strict-origin-when-cross-origin",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: header %s = %q, want %q", path, k, got, v)
		}
	}
	if strings.Contains(r.body, "goroutine ") || strings.Contains(r.body, ".go:") {
		t.Errorf("%s: body looks like a stack trace", path)
	}
	if strings.Contains(r.body, "<script>") || regexp.MustCompile(`\son[a-z]+=`).MatchString(r.body) {
		t.Errorf("%s: inline script or handler attribute", path)
	}
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	home := c.get("/")
	m := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(home.body)
	if m == nil {
		t.Fatalf("home does not link app.css with a hash: %s", home.body)
	}
	r := c.get(m[1])
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
		t.Fatalf("hashed asset: %d %v", r.status, r.header)
	}
	etag := r.header.Get("ETag")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/static/app.css", nil)
	req.Header.Set("If-None-Match", etag)
	if r := c.do(req); r.status != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", r.status)
	}
	for _, p := range []string{"/static/vendor/bootstrap/bootstrap.min.css", "/static/vendor/bootstrap/bootstrap.bundle.min.js", "/static/vendor/bootstrap/LICENSE", "/static/app.js"} {
		if r := c.get(p); r.status != http.StatusOK || len(r.body) == 0 {
			t.Errorf("%s: status %d", p, r.status)
		}
	}
	if r := c.get("/static/nope.css"); r.status != http.StatusNotFound {
		t.Errorf("missing asset: status %d", r.status)
	}
	if strings.Contains(home.body, "cdn") || strings.Contains(home.body, "https://") {
		t.Errorf("home references an external resource")
	}
}

func TestFeedAndSitemap(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.clients["anonymous"]
	r := c.get("/feed.xml")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/rss+xml") {
		t.Fatalf("feed: %d %s", r.status, r.header.Get("Content-Type"))
	}
	var feed struct {
		Channel struct {
			Title string `xml:"title"`
			Items []struct {
				Title string `xml:"title"`
				Link  string `xml:"link"`
			} `xml:"item"`
		} `xml:"channel"`
	}
	if err := xml.Unmarshal([]byte(r.body), &feed); err != nil {
		t.Fatalf("feed is not XML: %v", err)
	}
	if len(feed.Channel.Items) != 1 || feed.Channel.Items[0].Link != "http://blog.test/posts/hello-world" {
		t.Errorf("feed items = %+v, want only the published post", feed.Channel.Items)
	}
	r = c.get("/sitemap.xml")
	var sm struct {
		URLs []struct {
			Loc string `xml:"loc"`
		} `xml:"url"`
	}
	if err := xml.Unmarshal([]byte(r.body), &sm); err != nil {
		t.Fatalf("sitemap is not XML: %v", err)
	}
	if len(sm.URLs) != 2 || sm.URLs[1].Loc != "http://blog.test/posts/hello-world" {
		t.Errorf("sitemap = %+v", sm.URLs)
	}
	if strings.Contains(r.body, "secret-draft") {
		t.Error("sitemap lists a draft")
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.clients["author"]
	forms := []string{"/signout", "/profile", "/desk/posts", "/desk/posts/" + f.draft.ID, "/desk/posts/" + f.draft.ID + "/workflow",
		"/desk/posts/" + f.draft.ID + "/revert", "/signin"}
	for _, p := range forms {
		for _, token := range []string{"", "forged-token-forged-token-forged-token"} {
			r := c.post(p, url.Values{"_csrf": {token}, "title": {"x"}, "action": {"submit"}})
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "security token") {
				t.Errorf("POST %s with csrf %q: status %d", p, token, r.status)
			}
		}
	}
	// A fresh browser without the cookie is refused too.
	r := f.e.client().post("/signin", url.Values{"_csrf": {"whatever-whatever-whatever-whatever-x"}, "login": {"admin"}, "password": {"password-admin"}})
	if r.status != http.StatusForbidden {
		t.Errorf("POST without cookie: status %d", r.status)
	}
	// The session still works: nothing was changed.
	if r := c.get("/desk/posts/" + f.draft.ID + "/edit"); r.status != http.StatusOK || !strings.Contains(r.body, "draft") {
		t.Errorf("after refused posts: %d", r.status)
	}
	// Cookies are HttpOnly and SameSite=Lax.
	r = f.e.client().get("/signin")
	if ck := r.header.Get("Set-Cookie"); !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") {
		t.Errorf("csrf cookie %q", ck)
	}
}

// TestPasswordChangeRateLimited: after the default budget of wrong current
// passwords (10), the profile's password form answers 429 with Retry-After
// and a message, and does not change the password even when it is right.
func TestPasswordChangeRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	if r := c.post("/signup", url.Values{"email": {"pw@example.test"}, "username": {"pwuser"}, "password": {"correct horse battery"}}); r.status != http.StatusSeeOther {
		t.Fatalf("sign up: %d %s", r.status, r.body)
	}
	for i := range 10 {
		r := c.post("/profile/password", url.Values{"current_password": {"wrong password"}, "new_password": {"new secret words"}})
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("wrong current password %d: %d", i, r.status)
		}
	}
	r := c.post("/profile/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"new secret words"}})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "Too many wrong passwords") {
		t.Fatalf("11th change: %d %q", r.status, r.header.Get("Retry-After"))
	}
	d := e.client()
	d.signIn("pwuser", "correct horse battery") // unchanged
}

func TestSignUpSignInOutAndProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	// The first account becomes admin.
	r := c.post("/signup", url.Values{"email": {"boss@example.test"}, "username": {"boss"}, "display_name": {"The Boss"}, "password": {"correct horse battery"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/profile?msg=welcome" {
		t.Fatalf("sign up: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	if r := c.get("/profile?msg=welcome"); !strings.Contains(r.body, "admin") || !strings.Contains(r.body, "Welcome") {
		t.Errorf("profile after sign up: %s", r.body)
	}
	// Duplicate username is shown on the field.
	d := e.client()
	r = d.post("/signup", url.Values{"email": {"other@example.test"}, "username": {"boss"}, "password": {"correct horse battery"}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "This username is taken") {
		t.Errorf("duplicate sign up: %d", r.status)
	}
	r = d.post("/signup", url.Values{"email": {"bad"}, "username": {"x y"}, "password": {"1"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "is-invalid") {
		t.Errorf("invalid sign up: %d", r.status)
	}
	// Profile update and password change.
	r = c.post("/profile", url.Values{"display_name": {"Big Boss"}, "bio": {"Runs the place."}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("profile: %d %s", r.status, r.body)
	}
	if r := c.get("/authors/boss"); !strings.Contains(r.body, "Runs the place.") || !strings.Contains(r.body, "Big Boss") {
		t.Errorf("author page after profile update: %s", r.body)
	}
	r = c.post("/profile/password", url.Values{"current_password": {"wrong password"}, "new_password": {"new secret words"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "is-invalid") {
		t.Errorf("wrong current password: %d", r.status)
	}
	r = c.post("/profile/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"new secret words"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("password change: %d %s", r.status, r.body)
	}
	if r := c.get("/profile"); r.status != http.StatusOK {
		t.Errorf("session lost after own password change: %d", r.status)
	}
	// Sign out, then a wrong password, then the new one.
	if r := c.post("/signout", nil); r.status != http.StatusSeeOther {
		t.Errorf("sign out: %d", r.status)
	}
	if r := c.get("/profile"); r.status != http.StatusSeeOther {
		t.Errorf("profile after sign out: %d", r.status)
	}
	r = c.post("/signin", url.Values{"login": {"boss"}, "password": {"correct horse battery"}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong username") {
		t.Errorf("old password: %d", r.status)
	}
	r = c.post("/signin", url.Values{"login": {"boss@example.test"}, "password": {"new secret words"}, "next": {"//evil.example"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Errorf("sign in: %d %q", r.status, r.header.Get("Location"))
	}
}

var versionRe = regexp.MustCompile(`name="version" value="(\d+)"`)

func TestEditorFlow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	author, editor, other := f.clients["author"], f.clients["editor"], f.clients["author2"]

	// Preview renders Markdown without saving.
	r := author.post("/desk/posts", url.Values{"action": {"preview"}, "title": {"Preview me"}, "body": {"# Big\n\n<script>alert(1)</script>"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "<h1>Big</h1>") || strings.Contains(r.body, "alert(1)</script>") {
		t.Errorf("preview: %d", r.status)
	}
	// Invalid drafts show field errors.
	r = author.post("/desk/posts", url.Values{"action": {"save"}, "title": {""}, "body": {"x"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "is-invalid") {
		t.Errorf("empty title: %d", r.status)
	}
	// Create: redirect to the editor, which shows the saved state.
	r = author.post("/desk/posts", url.Values{"action": {"save"}, "title": {"Flow Post"}, "body": {"alpha\nbeta\n"}, "tags": {"a, b"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	edit := r.header.Get("Location")
	id := strings.TrimSuffix(strings.TrimPrefix(strings.Split(edit, "?")[0], "/desk/posts/"), "/edit")
	r = author.get(edit)
	if r.status != http.StatusOK || !strings.Contains(r.body, "Draft created.") || !strings.Contains(r.body, "alpha\nbeta") {
		t.Fatalf("editor after create: %d", r.status)
	}
	v1 := versionRe.FindStringSubmatch(r.body)[1]
	// The dashboard lists it right away (read-your-writes).
	if r := author.get("/desk"); !strings.Contains(r.body, "Flow Post") {
		t.Error("dashboard lacks the new draft")
	}
	// Another author may not edit it.
	if r := other.get(edit); r.status != http.StatusForbidden {
		t.Errorf("other author opens editor: %d", r.status)
	}
	// Save with the current version, and a slug change.
	r = author.post("/desk/posts/"+id, url.Values{"action": {"save"}, "version": {v1}, "title": {"Flow Post"}, "slug": {"flow"},
		"body": {"alpha\nbeta gamma\n"}, "tags": {"a, b"}, "note": {"second"}})
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "msg=saved") {
		t.Fatalf("save: %d %s", r.status, r.body)
	}
	if r := f.clients["anonymous"].get("/posts/flow"); r.status != http.StatusNotFound {
		t.Errorf("draft visible to the public: %d", r.status)
	}
	// A stale save shows the conflict with who saved and the diff.
	r = author.post("/desk/posts/"+id, url.Values{"action": {"save"}, "version": {v1}, "title": {"Flow Post"},
		"body": {"alpha\nbeta delta\n"}, "tags": {"a, b"}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "Edit conflict") || !strings.Contains(r.body, "Author") ||
		!strings.Contains(r.body, `<ins class="word-ins">delta</ins>`) || !strings.Contains(r.body, "Overwrite with my version") {
		t.Fatalf("conflict: %d %s", r.status, r.body)
	}
	if v := versionRe.FindStringSubmatch(r.body)[1]; v != v1 {
		t.Errorf("conflict form carries version %s, want the stale %s", v, v1)
	}
	cur := regexp.MustCompile(`name="current_version" value="(\d+)"`).FindStringSubmatch(r.body)
	if cur == nil {
		t.Fatal("conflict page lacks the current version")
	}
	// A plain save again still conflicts; the deliberate overwrite wins.
	r = author.post("/desk/posts/"+id, url.Values{"action": {"save"}, "version": {v1}, "current_version": {cur[1]}, "title": {"Flow Post"},
		"body": {"alpha\nbeta delta\n"}, "tags": {"a, b"}})
	if r.status != http.StatusConflict {
		t.Errorf("second stale save: %d", r.status)
	}
	r = author.post("/desk/posts/"+id, url.Values{"action": {"overwrite"}, "version": {v1}, "current_version": {cur[1]}, "title": {"Flow Post"}, "slug": {"flow"},
		"body": {"alpha\nbeta delta\n"}, "tags": {"a, b"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("overwrite: %d %s", r.status, r.body)
	}
	r = author.get("/desk/posts/" + id + "/edit")
	v := versionRe.FindStringSubmatch(r.body)[1]
	// Workflow: the author submits; publish is not offered to authors.
	if strings.Contains(r.body, "Publish now") {
		t.Error("author is offered Publish")
	}
	r = author.post("/desk/posts/"+id+"/workflow", url.Values{"action": {"submit"}, "version": {v}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	r = author.post("/desk/posts/"+id+"/workflow", url.Values{"action": {"publish"}, "version": {"0"}})
	if r.status != http.StatusForbidden {
		t.Errorf("author publishes: %d", r.status)
	}
	// The editor requests changes without a comment (refused), then publishes.
	r = editor.get("/desk/posts/" + id + "/edit")
	v = versionRe.FindStringSubmatch(r.body)[1]
	if !strings.Contains(r.body, "Request changes") || !strings.Contains(r.body, "Publish now") {
		t.Error("editor lacks review buttons")
	}
	r = editor.post("/desk/posts/"+id+"/workflow", url.Values{"action": {"changes"}, "version": {v}, "comment": {""}})
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("request changes without comment: %d", r.status)
	}
	r = editor.post("/desk/posts/"+id+"/workflow", url.Values{"action": {"publish"}, "version": {v}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	if r := f.clients["anonymous"].get("/"); !strings.Contains(r.body, "Flow Post") {
		t.Error("published post not on the home page right after the redirect")
	}
	if r := f.clients["anonymous"].get("/posts/flow"); r.status != http.StatusOK || !strings.Contains(r.body, "beta delta") {
		t.Errorf("published post page: %d", r.status)
	}
	// Publishing twice is an invalid transition shown on the editor.
	r = editor.post("/desk/posts/"+id+"/workflow", url.Values{"action": {"publish"}, "version": {"0"}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "alert-danger") {
		t.Errorf("publish twice: %d", r.status)
	}
	// History: diff revision 1 and 3, restore revision 1.
	r = author.get("/desk/posts/" + id + "/diff?from=1&to=3")
	if r.status != http.StatusOK || !strings.Contains(r.body, `<ins class="word-ins"> delta</ins>`) {
		t.Errorf("diff 1..3: %d", r.status)
	}
	r = author.get("/desk/posts/" + id + "/revisions/1")
	m := regexp.MustCompile(`name="version" value="(\d+)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("revision page lacks the restore form")
	}
	r = author.post("/desk/posts/"+id+"/revert", url.Values{"revision": {"1"}, "version": {m[1]}, "note": {"back"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("revert: %d %s", r.status, r.body)
	}
	if r := author.get("/desk/posts/" + id + "/history"); !strings.Contains(r.body, "PostReverted") || !strings.Contains(r.body, "reverted from 1") && !strings.Contains(r.body, "from 1") {
		t.Error("history lacks the revert")
	}
	if r := f.clients["anonymous"].get("/posts/flow"); !strings.Contains(r.body, "alpha\nbeta</p>") {
		t.Error("public page does not show the restored revision")
	}
	// Delete by the editor: gone from the public site.
	r = editor.get("/desk/posts/" + id + "/edit")
	v = versionRe.FindStringSubmatch(r.body)[1]
	if r := editor.post("/desk/posts/"+id+"/workflow", url.Values{"action": {"delete"}, "version": {v}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	if r := f.clients["anonymous"].get("/posts/flow"); r.status != http.StatusNotFound {
		t.Errorf("deleted post: %d", r.status)
	}
}

func TestAdminAndAudit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.clients["admin"]
	reader := f.users["reader"]
	r := admin.post("/admin/users/"+reader.ID+"/role", url.Values{"role": {"author"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("change role: %d %s", r.status, r.body)
	}
	// The new role applies at once.
	if r := f.clients["reader"].get("/desk"); r.status != http.StatusOK {
		t.Errorf("promoted reader opens desk: %d", r.status)
	}
	if r := admin.post("/admin/users/"+f.users["admin"].ID+"/role", url.Values{"role": {"reader"}}); r.status/100 != 4 {
		t.Errorf("admin demotes self: %d", r.status)
	}
	if r := admin.post("/admin/users/"+reader.ID+"/deactivate", nil); r.status != http.StatusSeeOther {
		t.Fatalf("deactivate: %d", r.status)
	}
	if r := f.clients["reader"].get("/profile"); r.status != http.StatusSeeOther {
		t.Errorf("deactivated user still signed in: %d", r.status)
	}
	if r := admin.get("/admin/users"); !strings.Contains(r.body, "deactivated") {
		t.Error("users page lacks the deactivated status")
	}
	if r := admin.post("/admin/users/"+reader.ID+"/reactivate", nil); r.status != http.StatusSeeOther {
		t.Fatalf("reactivate: %d", r.status)
	}
	// Auditors cannot change users.
	if r := f.clients["auditor"].post("/admin/users/"+reader.ID+"/deactivate", nil); r.status != http.StatusForbidden {
		t.Errorf("auditor deactivates: %d", r.status)
	}
	// Audit filters and CSV.
	aud := f.clients["auditor"]
	r = aud.get("/audit?actor=editor&type=PostPublished")
	if !strings.Contains(r.body, "post-"+f.published.ID) || strings.Contains(r.body, "UserRegistered") {
		t.Errorf("filtered audit log wrong")
	}
	if r := aud.get("/audit?since=bogus"); r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad time filter: %d", r.status)
	}
	r = aud.get("/audit/export.csv?type=UserRegistered")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", r.status, r.header.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(r.body), "\n")
	if len(lines) != 1+6 || !strings.HasPrefix(lines[0], "position,occurred_at") {
		t.Errorf("csv has %d lines: %q", len(lines), lines[0])
	}
	if strings.Contains(r.body, "argon2") {
		t.Error("csv leaks a password hash")
	}
}

func TestWorkflowActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	editor, author := f.clients["editor"], f.clients["author"]
	id := f.draft.ID
	step := func(c *client, action string, extra url.Values, wantStatus int, wantText string) {
		t.Helper()
		r := c.get("/desk/posts/" + id + "/edit")
		m := versionRe.FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("%s: no version on the editor (%d)", action, r.status)
		}
		form := url.Values{"action": {action}, "version": {m[1]}}
		for k, v := range extra {
			form[k] = v
		}
		r = c.post("/desk/posts/"+id+"/workflow", form)
		if r.status != wantStatus {
			t.Fatalf("%s: status %d, want %d: %s", action, r.status, wantStatus, r.body)
		}
		if r.status == http.StatusSeeOther {
			r = c.follow(r.header.Get("Location"))
		}
		if !strings.Contains(r.body, wantText) {
			t.Fatalf("%s: page lacks %q", action, wantText)
		}
	}
	step(author, "submit", nil, http.StatusSeeOther, "Submitted for review.")
	step(editor, "changes", url.Values{"comment": {"Needs a conclusion."}}, http.StatusSeeOther, "Changes requested")
	if r := author.get("/desk/posts/" + id + "/history"); !strings.Contains(r.body, "PostChangesRequested") {
		t.Error("history lacks the review")
	}
	step(editor, "schedule", url.Values{"publish_at": {"2001-01-01T10:00"}}, http.StatusUnprocessableEntity, "future")
	step(editor, "schedule", url.Values{"publish_at": {"not a date"}}, http.StatusUnprocessableEntity, "is-invalid")
	future := time.Now().UTC().Add(48 * time.Hour).Format("2006-01-02T15:04")
	step(editor, "schedule", url.Values{"publish_at": {future}}, http.StatusSeeOther, "Scheduled.")
	if r := editor.get("/desk"); !strings.Contains(r.body, "Secret Draft") || !strings.Contains(r.body, "for ") {
		t.Error("dashboard lacks the scheduled post")
	}
	step(editor, "unpublish", url.Values{"reason": {"not yet"}}, http.StatusSeeOther, "Unpublished")
	step(editor, "archive", nil, http.StatusSeeOther, "Archived.")
	if r := editor.get("/desk/posts/" + id + "/edit"); !strings.Contains(r.body, "restore it before editing") {
		t.Error("archived post editor not locked")
	}
	step(editor, "restore", nil, http.StatusSeeOther, "Restored.")
	step(author, "delete", nil, http.StatusSeeOther, "Deleted.")
	if r := author.get("/desk/posts/" + id + "/edit"); r.status != http.StatusOK || !strings.Contains(r.body, "text-bg-danger") {
		t.Errorf("deleted post in the editor: %d", r.status)
	}
	if r := author.post("/desk/posts/"+id+"/workflow", url.Values{"action": {"explode"}}); r.status != http.StatusBadRequest {
		t.Errorf("unknown action: %d", r.status)
	}
}

func TestHomePagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	author := commands.Meta{Actor: f.users["author"].Actor()}
	editor := commands.Meta{Actor: f.users["editor"].Actor()}
	for i := range 12 {
		d, err := f.e.cmds.DraftPost(ctx, author, commands.DraftPost{Title: fmt.Sprintf("Numbered post %02d", i), Body: "body", Tags: []string{"numbers"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.cmds.PublishPost(ctx, editor, commands.PostRef{PostID: d.ID, ExpectedVersion: d.Version}); err != nil {
			t.Fatal(err)
		}
	}
	c := f.clients["anonymous"]
	var home response
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if home = c.get("/"); strings.Contains(home.body, "Numbered post 11") {
			break
		}
	}
	titles := regexp.MustCompile(`<a href="/posts/[^"]+">([^<]+)</a>`)
	first := titles.FindAllStringSubmatch(home.body, -1)
	if len(first) != 10 || first[0][1] != "Numbered post 11" {
		t.Fatalf("first page has %d posts: %v", len(first), first)
	}
	m := regexp.MustCompile(`href="(/\?cursor=[^"]+)" rel="next"`).FindStringSubmatch(home.body)
	if m == nil {
		t.Fatal("no next link")
	}
	next := c.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	second := titles.FindAllStringSubmatch(next.body, -1)
	if len(second) != 3 || second[2][1] != "Hello World" || strings.Contains(next.body, `rel="next"`) {
		t.Fatalf("second page: %v", second)
	}
	if r := c.get("/?cursor=garbage"); r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad cursor: %d", r.status)
	}
	if r := c.get("/tags/numbers"); len(titles.FindAllStringSubmatch(r.body, -1)) != 10 {
		t.Error("tag page not paginated")
	}
}
