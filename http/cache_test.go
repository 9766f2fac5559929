package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// longCache keeps cached public responses for an hour, so a test sees a new
// value only when a projection commit invalidated the old one, not by expiry.
func longCache(c *Config) { c.PublicCacheTTL = time.Hour }

// publish has the editor publish p and returns the command's answer.
func (e *testEnv) publish(editor account, p result) result {
	e.t.Helper()
	var res result
	e.must(http.StatusOK, req{Method: "POST", Path: "/api/v1/posts/" + p.ID + "/publish", Token: editor.Access,
		Header: ifMatchHeader(p.Version)}).json(e.t, &res)
	res.ID, res.Slug = p.ID, p.Slug
	return res
}

func minPosition(pos uint64) map[string]string {
	return map[string]string{"X-Min-Position": fmt.Sprint(pos)}
}

// titles returns the titles of a post list response.
func titles(t testing.TB, r resp) []string {
	t.Helper()
	var page struct {
		Items []struct{ Title string } `json:"items"`
	}
	r.json(t, &page)
	out := make([]string, len(page.Items))
	for i, it := range page.Items {
		out[i] = it.Title
	}
	return out
}

func hitsAndMisses(t testing.TB, e *testEnv) (hits, misses float64) {
	t.Helper()
	mfs, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "palimpsest_http_public_cache_hits_total":
			hits = mf.GetMetric()[0].GetCounter().GetValue()
		case "palimpsest_http_public_cache_misses_total":
			misses = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return hits, misses
}

func TestPublicCacheServesEditsAfterTheProjectionCommits(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, longCache)
	tm := e.team()
	p := e.publish(tm.Editor, e.draft(tm.Author, "First title", "body\n", "cache"))

	get := func(hdr map[string]string) (post, list resp) {
		post = e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/posts/" + p.Slug, Header: hdr})
		list = e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/posts?tag=cache", Header: hdr})
		return post, list
	}
	post, list := get(minPosition(p.Position))
	if got := post.obj(t)["title"]; got != "First title" {
		t.Fatalf("title %v", got)
	}
	if got := titles(t, list); len(got) != 1 || got[0] != "First title" {
		t.Fatalf("list %v", got)
	}
	// Once every projection has committed the log (nothing else moves the
	// generation), repeated reads are hits.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.cfg.Waiter.WaitFor(ctx, eventstore.Position(p.Position)); err != nil {
		t.Fatal(err)
	}
	get(nil)
	hitsBefore, missesBefore := hitsAndMisses(t, e)
	get(nil)
	hits, misses := hitsAndMisses(t, e)
	if hits < hitsBefore+2 || misses != missesBefore {
		t.Fatalf("repeated anonymous reads: hits %v→%v, misses %v→%v; want two more hits, no miss", hitsBefore, hits, missesBefore, misses)
	}

	// With X-Min-Position: the very next read shows the edit.
	var ed result
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/api/v1/posts/" + p.ID, Token: tm.Author.Access, Header: ifMatchHeader(p.Version),
		Body: map[string]any{"title": "Second title"}}).json(t, &ed)
	post, list = get(minPosition(ed.Position))
	if got := post.obj(t)["title"]; got != "Second title" {
		t.Fatalf("after an edit, with X-Min-Position: title %v", got)
	}
	if got := titles(t, list); len(got) != 1 || got[0] != "Second title" {
		t.Fatalf("after an edit, with X-Min-Position: list %v", got)
	}
	if got, want := post.Header.Get("ETag"), fmt.Sprintf("%q", fmt.Sprint(ed.Version)); got != want {
		t.Fatalf("ETag %s, want %s", got, want)
	}

	// Without X-Min-Position: once anything has observed the commit (here
	// a wait on another endpoint), no cached response predates it.
	var ed2 result
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/api/v1/posts/" + p.ID, Token: tm.Author.Access, Header: ifMatchHeader(ed.Version),
		Body: map[string]any{"title": "Third title"}}).json(t, &ed2)
	e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/tags", Header: minPosition(ed2.Position)})
	post, list = get(nil)
	if got := post.obj(t)["title"]; got != "Third title" {
		t.Fatalf("after an edit, without X-Min-Position: title %v", got)
	}
	if got := titles(t, list); len(got) != 1 || got[0] != "Third title" {
		t.Fatalf("after an edit, without X-Min-Position: list %v", got)
	}

	// And without any wait at all, the change shows as soon as the
	// projection commits, long before the hour-long TTL.
	var ed3 result
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/api/v1/posts/" + p.ID, Token: tm.Author.Access, Header: ifMatchHeader(ed2.Version),
		Body: map[string]any{"title": "Fourth title"}}).json(t, &ed3)
	deadline := time.Now().Add(10 * time.Second)
	for {
		post, list = get(nil)
		if post.obj(t)["title"] == "Fourth title" && strings.Join(titles(t, list), "") == "Fourth title" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edit never showed: %s / %s", post.Body, list.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Unpublishing hides the post from the next anonymous read.
	var un result
	e.must(http.StatusOK, req{Method: "POST", Path: "/api/v1/posts/" + p.ID + "/unpublish", Token: tm.Editor.Access,
		Header: ifMatchHeader(ed3.Version)}).json(t, &un)
	e.must(http.StatusNotFound, req{Method: "GET", Path: "/api/v1/posts/" + p.Slug, Header: minPosition(un.Position)})
	if got := titles(t, e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/posts?tag=cache", Header: minPosition(un.Position)})); len(got) != 0 {
		t.Fatalf("unpublished post still listed: %v", got)
	}
}

func TestRoleResponsesNeverComeFromTheAnonymousCache(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, longCache)
	tm := e.team()
	pub := e.publish(tm.Editor, e.draft(tm.Author, "Public post", "body\n", "roles"))
	dr := e.draft(tm.Author, "Draft post", "body\n", "roles")
	wait := minPosition(max(pub.Position, dr.Position))
	list := "/api/v1/posts?tag=roles"

	// Anonymous first: its responses are cached.
	anon := e.must(http.StatusOK, req{Method: "GET", Path: list, Header: wait})
	if got := titles(t, anon); strings.Join(got, ",") != "Public post" {
		t.Fatalf("anonymous list %v", got)
	}
	if cc := anon.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("anonymous list Cache-Control %q, want no-cache", cc)
	}
	if v := anon.Header.Get("Vary"); !strings.Contains(v, "Authorization") {
		t.Errorf("anonymous list Vary %q, want Authorization", v)
	}
	e.must(http.StatusNotFound, req{Method: "GET", Path: "/api/v1/posts/" + dr.Slug, Header: wait})

	// The author, the editor and the auditor see the draft: none of them is
	// served the cached anonymous page.
	for _, a := range []account{tm.Author, tm.Editor, tm.Auditor} {
		r := e.must(http.StatusOK, req{Method: "GET", Path: list, Token: a.Access})
		if got := titles(t, r); strings.Join(got, ",") != "Draft post,Public post" {
			t.Errorf("%s's list %v, want the draft too", a.Username, got)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "private, no-cache" {
			t.Errorf("%s's list Cache-Control %q, want private, no-cache", a.Username, cc)
		}
		if r.Header.Get("ETag") == anon.Header.Get("ETag") {
			t.Errorf("%s's list has the anonymous list's ETag", a.Username)
		}
		g := e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/posts/" + dr.Slug, Token: a.Access})
		if got := g.obj(t)["title"]; got != "Draft post" {
			t.Errorf("%s got %v", a.Username, got)
		}
	}

	// ...and their responses were not stored for anonymous callers or
	// readers, who still see only what is published.
	for _, token := range []string{"", tm.Reader.Access} {
		if got := titles(t, e.must(http.StatusOK, req{Method: "GET", Path: list, Token: token})); strings.Join(got, ",") != "Public post" {
			t.Errorf("list for %q after signed-in reads: %v", token, got)
		}
		e.must(http.StatusNotFound, req{Method: "GET", Path: "/api/v1/posts/" + dr.Slug, Token: token})
	}

	// The other way round: a post cached for an author first is not
	// served to anonymous callers.
	dr2 := e.draft(tm.Author, "Second draft", "body\n", "roles")
	e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/posts/" + dr2.Slug, Token: tm.Author.Access, Header: minPosition(dr2.Position)})
	e.must(http.StatusNotFound, req{Method: "GET", Path: "/api/v1/posts/" + dr2.Slug})
}

func TestConditionalGets(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, longCache)
	tm := e.team()
	p := e.publish(tm.Editor, e.draft(tm.Author, "Conditional", "body\n", "etags"))
	wait := minPosition(p.Position)

	for _, path := range []string{"/api/v1/posts?tag=etags", "/api/v1/posts/" + p.Slug, "/api/v1/posts/" + p.ID, "/api/v1/tags"} {
		for _, token := range []string{"", tm.Reader.Access, tm.Editor.Access} {
			first := e.must(http.StatusOK, req{Method: "GET", Path: path, Token: token, Header: wait})
			tag := first.Header.Get("ETag")
			if tag == "" || !strings.HasPrefix(tag, `"`) {
				t.Fatalf("GET %s: ETag %q", path, tag)
			}
			for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
				r := e.do(req{Method: "GET", Path: path, Token: token, Header: map[string]string{"If-None-Match": inm}})
				if r.Status != http.StatusNotModified || len(r.Body) != 0 {
					t.Errorf("GET %s If-None-Match %s: %d %q, want 304 without a body", path, inm, r.Status, r.Body)
				}
				if r.Header.Get("ETag") != tag || r.Header.Get("Cache-Control") == "" {
					t.Errorf("GET %s 304: ETag %q Cache-Control %q", path, r.Header.Get("ETag"), r.Header.Get("Cache-Control"))
				}
			}
			r := e.must(http.StatusOK, req{Method: "GET", Path: path, Token: token, Header: map[string]string{"If-None-Match": `"stale"`}})
			if string(r.Body) != string(first.Body) {
				t.Errorf("GET %s: a non-matching If-None-Match changed the body", path)
			}
		}
	}
	post := e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/posts/" + p.Slug})
	if got, want := post.Header.Get("ETag"), fmt.Sprintf("%q", fmt.Sprint(p.Version)); got != want {
		t.Fatalf("post ETag %s, want its version %s", got, want)
	}

	// After an edit the old validators no longer match.
	oldList := e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/posts?tag=etags"}).Header.Get("ETag")
	var ed result
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/api/v1/posts/" + p.ID, Token: tm.Author.Access, Header: ifMatchHeader(p.Version),
		Body: map[string]any{"title": "Conditional, edited"}}).json(t, &ed)
	hdr := minPosition(ed.Position)
	hdr["If-None-Match"] = post.Header.Get("ETag")
	if got := e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/posts/" + p.Slug, Header: hdr}).obj(t)["title"]; got != "Conditional, edited" {
		t.Fatalf("title after edit %v", got)
	}
	hdr["If-None-Match"] = oldList
	if got := titles(t, e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/posts?tag=etags", Header: hdr})); strings.Join(got, "") != "Conditional, edited" {
		t.Fatalf("list after edit %v", got)
	}

	// A post as of a version answers If-None-Match too.
	asOf := fmt.Sprintf("/api/v1/posts/%s?version=%d", p.ID, p.Version)
	v := e.must(http.StatusOK, req{Method: "GET", Path: asOf})
	e.must(http.StatusNotModified, req{Method: "GET", Path: asOf, Header: map[string]string{"If-None-Match": v.Header.Get("ETag")}})
}

func TestPublicCacheCanBeDisabled(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.PublicCacheTTL = -1 })
	tm := e.team()
	p := e.publish(tm.Editor, e.draft(tm.Author, "Uncached", "body\n"))
	for range 2 {
		r := e.must(http.StatusOK, req{Method: "GET", Path: "/api/v1/posts/" + p.Slug, Header: minPosition(p.Position)})
		if r.obj(t)["title"] != "Uncached" || r.Header.Get("ETag") == "" {
			t.Fatalf("uncached read: %s", r.Body)
		}
	}
	if hits, misses := hitsAndMisses(t, e); hits != 0 || misses != 0 {
		t.Fatalf("disabled cache counted %v hits, %v misses", hits, misses)
	}
}

func TestNoneMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header []string
		etag   string
		want   bool
	}{
		{nil, `"1"`, false},
		{[]string{`"1"`}, `"1"`, true},
		{[]string{`W/"1"`}, `"1"`, true},
		{[]string{`"2", W/"1"`}, `"1"`, true},
		{[]string{`"2"`, `"1"`}, `"1"`, true},
		{[]string{`"2",,"3"`}, `"1"`, false},
		{[]string{`*`}, `"1"`, true},
		{[]string{`"10"`}, `"1"`, false},
		{[]string{`1`}, `"1"`, false},
	} {
		if got := noneMatch(tc.header, tc.etag); got != tc.want {
			t.Errorf("noneMatch(%q, %s) = %v, want %v", tc.header, tc.etag, got, tc.want)
		}
	}
}

// A page of revisions is cached after the history authorization, so it is
// shared by everyone allowed to read the history, never given to anyone
// else, and a new revision shows on the next read that waits for it.
func TestRevisionPagesAreCachedBehindTheHistoryCheck(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, longCache)
	tm := e.team()
	p := e.publish(tm.Editor, e.draft(tm.Author, "Rev one", "body one\n", "revcache"))
	path := "/api/v1/posts/" + p.ID + "/revisions"
	count := func(r resp) int {
		t.Helper()
		var page struct {
			Items []struct{ Revision int } `json:"items"`
		}
		r.json(t, &page)
		return len(page.Items)
	}
	first := e.must(http.StatusOK, req{Method: "GET", Path: path, Token: tm.Auditor.Access, Header: minPosition(p.Position)})
	if n := count(first); n != 1 {
		t.Fatalf("auditor sees %d revisions, want 1", n)
	}
	if first.Header.Get("ETag") == "" || !strings.Contains(first.Header.Get("Cache-Control"), "private") {
		t.Fatalf("revision page headers: ETag %q, Cache-Control %q", first.Header.Get("ETag"), first.Header.Get("Cache-Control"))
	}
	// The page is cached now; a reader still gets 403, and nothing of it.
	e.must(http.StatusForbidden, req{Method: "GET", Path: path, Token: tm.Reader.Access})
	e.must(http.StatusUnauthorized, req{Method: "GET", Path: path})
	// The author shares the cached page (same body, same ETag) …
	again := e.must(http.StatusOK, req{Method: "GET", Path: path, Token: tm.Author.Access})
	if again.Header.Get("ETag") != first.Header.Get("ETag") || count(again) != 1 {
		t.Fatalf("author's page differs: ETag %q vs %q", again.Header.Get("ETag"), first.Header.Get("ETag"))
	}
	e.must(http.StatusNotModified, req{Method: "GET", Path: path, Token: tm.Author.Access,
		Header: map[string]string{"If-None-Match": first.Header.Get("ETag")}})
	// … until an edit adds a revision.
	var ed result
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/api/v1/posts/" + p.ID, Token: tm.Author.Access, Header: ifMatchHeader(p.Version),
		Body: map[string]any{"title": "Rev two"}}).json(t, &ed)
	after := e.must(http.StatusOK, req{Method: "GET", Path: path, Token: tm.Auditor.Access, Header: minPosition(ed.Position)})
	if n := count(after); n != 2 {
		t.Fatalf("after an edit, with X-Min-Position: %d revisions, want 2", n)
	}
	if after.Header.Get("ETag") == first.Header.Get("ETag") {
		t.Fatal("a changed page kept its ETag")
	}
}
