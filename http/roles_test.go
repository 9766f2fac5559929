package httpapi

import (
	"fmt"
	"net/http"
	"testing"
)

// TestForbiddenCommandsAppendNothing tries every role on every command it
// must not run: each is a 403 and the global log does not move.
func TestForbiddenCommandsAppendNothing(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tm := e.team()
	other := e.setRole(tm.Admin, e.register("author2"), "author")

	// Posts in the states each command needs.
	draft := e.draft(tm.Author, "Draft post", "one")
	edited := e.must(200, req{Method: "PATCH", Path: "/api/v1/posts/" + draft.ID, Token: tm.Author.Access, Header: ifMatchHeader(draft.Version), Body: map[string]any{"body": "two"}})
	var d result
	edited.json(t, &d)
	review := e.draft(tm.Author, "In review", "x")
	var rv result
	e.must(200, req{Method: "POST", Path: "/api/v1/posts/" + review.ID + "/submit", Token: tm.Author.Access, Header: ifMatchHeader(review.Version)}).json(t, &rv)
	pub := e.draft(tm.Author, "Published", "x")
	var pv result
	e.must(200, req{Method: "POST", Path: "/api/v1/posts/" + pub.ID + "/publish", Token: tm.Editor.Access, Header: ifMatchHeader(pub.Version)}).json(t, &pv)
	arch := e.draft(tm.Author, "Archived", "x")
	var av result
	e.must(200, req{Method: "POST", Path: "/api/v1/posts/" + arch.ID + "/archive", Token: tm.Editor.Access, Header: ifMatchHeader(arch.Version)}).json(t, &av)

	type attempt struct {
		name string
		as   []account
		r    req
	}
	postCmd := func(method, path string, v uint64, body any) req {
		return req{Method: method, Path: path, Header: ifMatchHeader(v), Body: body}
	}
	p := "/api/v1/posts/"
	attempts := []attempt{
		{"draft", []account{tm.Reader, tm.Auditor}, req{Method: "POST", Path: "/api/v1/posts", Body: map[string]any{"title": "t", "body": "b"}}},
		{"edit", []account{tm.Reader, tm.Auditor, other}, postCmd("PATCH", p+draft.ID, d.Version, map[string]any{"body": "hacked"})},
		{"slug", []account{tm.Reader, tm.Auditor, other}, postCmd("PUT", p+draft.ID+"/slug", d.Version, map[string]any{"slug": "hacked"})},
		{"submit", []account{tm.Reader, tm.Auditor, other}, postCmd("POST", p+draft.ID+"/submit", d.Version, nil)},
		{"request changes", []account{tm.Reader, tm.Auditor, tm.Author, other}, postCmd("POST", p+review.ID+"/request-changes", rv.Version, map[string]any{"comment": "no"})},
		{"publish", []account{tm.Reader, tm.Auditor, tm.Author, other}, postCmd("POST", p+draft.ID+"/publish", d.Version, nil)},
		{"schedule", []account{tm.Reader, tm.Auditor, tm.Author, other}, postCmd("POST", p+draft.ID+"/schedule", d.Version, map[string]any{"publish_at": "2099-01-01T00:00:00Z"})},
		{"unpublish", []account{tm.Reader, tm.Auditor, tm.Author, other}, postCmd("POST", p+pub.ID+"/unpublish", pv.Version, map[string]any{"reason": "x"})},
		{"archive", []account{tm.Reader, tm.Auditor, tm.Author, other}, postCmd("POST", p+draft.ID+"/archive", d.Version, nil)},
		{"restore", []account{tm.Reader, tm.Auditor, tm.Author, other}, postCmd("POST", p+arch.ID+"/restore", av.Version, nil)},
		{"delete", []account{tm.Reader, tm.Auditor, other}, postCmd("DELETE", p+draft.ID, d.Version, nil)},
		{"delete published as its author", []account{tm.Author}, postCmd("DELETE", p+pub.ID, pv.Version, nil)},
		{"revert", []account{tm.Reader, tm.Auditor, other}, postCmd("POST", p+draft.ID+"/revert", d.Version, map[string]any{"revision": 1})},
		{"change role", []account{tm.Reader, tm.Auditor, tm.Author, tm.Editor}, req{Method: "PUT", Path: "/api/v1/users/" + tm.Reader.ID + "/role", Body: map[string]any{"role": "admin"}}},
		{"deactivate", []account{tm.Reader, tm.Auditor, tm.Author, tm.Editor}, req{Method: "POST", Path: "/api/v1/users/" + tm.Admin.ID + "/deactivate", Body: map[string]any{}}},
		{"reactivate", []account{tm.Reader, tm.Auditor, tm.Author, tm.Editor}, req{Method: "POST", Path: "/api/v1/users/" + tm.Admin.ID + "/reactivate"}},
	}
	for _, a := range attempts {
		for _, who := range a.as {
			t.Run(fmt.Sprintf("%s as %s", a.name, who.Username), func(t *testing.T) {
				before := e.head()
				r := a.r
				r.Token = who.Access
				got := e.do(r)
				if got.Status != http.StatusForbidden {
					t.Fatalf("status %d, want 403; %s", got.Status, got.Body)
				}
				got.problem(t)
				if after := e.head(); after != before {
					t.Fatalf("log moved from %d to %d", before, after)
				}
			})
		}
	}
	// Read side: the reader may not read history, revisions, raw events, audit, users or the log.
	for _, path := range []string{p + pub.ID + "/history", p + pub.ID + "/revisions", p + pub.ID + "/diff?from=1&to=1",
		p + pub.ID + "/events", "/api/v1/audit", "/api/v1/events", "/api/v1/users", "/api/v1/projections"} {
		if got := e.do(req{Method: "GET", Path: path, Token: tm.Reader.Access}); got.Status != 403 {
			t.Errorf("reader GET %s: %d %s", path, got.Status, got.Body)
		}
	}
	// A draft is invisible to readers and anonymous callers, visible to its author and the auditor.
	for _, who := range []account{tm.Reader, other, {}} {
		if got := e.do(req{Method: "GET", Path: p + draft.ID, Token: who.Access, Header: map[string]string{"X-Min-Position": fmt.Sprint(d.Position)}}); got.Status != 404 {
			t.Errorf("%q sees a draft: %d", who.Username, got.Status)
		}
	}
	for _, who := range []account{tm.Author, tm.Auditor, tm.Editor} {
		e.must(200, req{Method: "GET", Path: p + draft.ID, Token: who.Access, Header: map[string]string{"X-Min-Position": fmt.Sprint(d.Position)}})
	}
}
