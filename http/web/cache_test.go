package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// anonymousGet reads path as a new anonymous visitor (no cookies at all)
// and reports whether the public page cache served it.
func (f *fixture) anonymousGet(path string) (response, bool) {
	f.e.t.Helper()
	hits, _ := f.e.ui.PublicCacheStats()
	r := f.e.client().get(path)
	after, _ := f.e.ui.PublicCacheStats()
	return r, after > hits
}

func TestPublicPagesAreCachedForAnonymousVisitors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.e.settle()
	for _, path := range []string{"/", "/posts/hello-world", "/tags/intro", "/authors/author", "/feed.xml", "/sitemap.xml"} {
		first, _ := f.anonymousGet(path)
		second, hit := f.anonymousGet(path)
		if first.status != http.StatusOK || !hit || second.body != first.body {
			t.Errorf("%s: second anonymous request: status %d, cache hit %v, same body %v", path, second.status, hit, second.body == first.body)
		}
		if path == "/feed.xml" || path == "/sitemap.xml" {
			continue
		}
		// Parameters the page does not read share its entry; a flash
		// message is rendered for its request alone.
		if r, hit := f.anonymousGet(path + "?utm_source=x"); !hit || r.body != first.body {
			t.Errorf("%s?utm_source=x: cache hit %v, same body %v", path, hit, r.body == first.body)
		}
		if r, hit := f.anonymousGet(path + "?msg=signedout"); hit || !strings.Contains(r.body, "You are signed out.") {
			t.Errorf("%s?msg=signedout: cache hit %v", path, hit)
		}
		// A shared page holds no CSRF token and no per-visitor value.
		if strings.Contains(first.body, "_csrf") || strings.Contains(first.body, "Sign out") {
			t.Errorf("%s: the anonymous page holds a form of signed-in visitors", path)
		}
	}
	// Errors are not cached.
	for range 2 {
		if r, hit := f.anonymousGet("/posts/secret-draft"); r.status != http.StatusNotFound || hit {
			t.Errorf("draft for anonymous: status %d, cache hit %v", r.status, hit)
		}
	}
	if r, hit := f.anonymousGet("/?cursor=garbage"); r.status != http.StatusUnprocessableEntity || hit {
		t.Errorf("bad cursor: status %d, cache hit %v", r.status, hit)
	}
}

func TestSignedInVisitorsNeverGetTheAnonymousPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	anon := f.clients["anonymous"]
	for _, path := range []string{"/", "/posts/hello-world", "/tags/intro", "/authors/author"} {
		for range 2 { // warm the cache
			if r := anon.get(path); r.status != http.StatusOK || strings.Contains(r.body, "Sign out") {
				t.Fatalf("%s anonymous: %d", path, r.status)
			}
		}
		for _, role := range []string{"editor", "reader"} {
			r := f.clients[role].get(path)
			name := f.users[role].DisplayName
			if r.status != http.StatusOK || !strings.Contains(r.body, "Sign out") || !strings.Contains(r.body, name) ||
				!strings.Contains(r.body, `name="_csrf"`) {
				t.Errorf("%s as %s: status %d, navbar without the user", path, role, r.status)
			}
		}
		// ...and their pages are not stored for anyone else.
		if r := anon.get(path); strings.Contains(r.body, "Sign out") || strings.Contains(r.body, f.users["editor"].DisplayName) {
			t.Errorf("%s: anonymous visitor got a signed-in page", path)
		}
	}
	// The post's author and editors see their buttons on the public post.
	if r := f.clients["editor"].get("/posts/hello-world"); !strings.Contains(r.body, "/edit\">Edit</a>") {
		t.Error("editor's post page lacks the Edit button")
	}
	// A signed-in author sees their draft; an anonymous visitor still not.
	if r := f.clients["author"].get("/posts/secret-draft"); r.status != http.StatusOK {
		t.Errorf("author's draft: %d", r.status)
	}
	if r := anon.get("/posts/secret-draft"); r.status != http.StatusNotFound {
		t.Errorf("draft for anonymous after the author's visit: %d", r.status)
	}
}

func TestAnonymousPagesShowASaveAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	editor := f.clients["editor"]
	id := f.published.ID
	f.e.settle()
	for range 2 { // cached
		f.anonymousGet("/")
		f.anonymousGet("/posts/hello-world")
	}
	if _, hit := f.anonymousGet("/"); !hit {
		t.Fatal("home page not cached")
	}

	// Edit the published post through the UI: the next anonymous page
	// shows the new title, with no waiting.
	r := editor.get("/desk/posts/" + id + "/edit")
	v := versionRe.FindStringSubmatch(r.body)
	if v == nil {
		t.Fatalf("editor: %d", r.status)
	}
	r = editor.post("/desk/posts/"+id, url.Values{"action": {"save"}, "version": {v[1]}, "title": {"Hello Cached World"},
		"slug": {"hello-world"}, "body": {"A *new* body."}, "excerpt": {"A greeting"}, "tags": {"intro, go"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", r.status, r.body)
	}
	if r, _ := f.anonymousGet("/"); !strings.Contains(r.body, "Hello Cached World") {
		t.Error("home page after the save shows the old title")
	}
	if r, _ := f.anonymousGet("/posts/hello-world"); !strings.Contains(r.body, "<em>new</em>") {
		t.Error("post page after the save shows the old body")
	}

	// Publish a new post through the UI: it is on the home page at once.
	r = editor.post("/desk/posts", url.Values{"action": {"save"}, "title": {"Fresh Off The Press"}, "body": {"news"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	edit := strings.Split(r.header.Get("Location"), "?")[0]
	newID := strings.TrimSuffix(strings.TrimPrefix(edit, "/desk/posts/"), "/edit")
	if r, _ := f.anonymousGet("/"); strings.Contains(r.body, "Fresh Off The Press") {
		t.Error("a draft is on the public home page")
	}
	v = versionRe.FindStringSubmatch(editor.get(edit).body)
	r = editor.post("/desk/posts/"+newID+"/workflow", url.Values{"action": {"publish"}, "version": {v[1]}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	if r, _ := f.anonymousGet("/"); !strings.Contains(r.body, "Fresh Off The Press") {
		t.Error("home page after publishing lacks the new post")
	}
	if r, _ := f.anonymousGet("/feed.xml"); !strings.Contains(r.body, "Fresh Off The Press") {
		t.Error("feed after publishing lacks the new post")
	}
}
