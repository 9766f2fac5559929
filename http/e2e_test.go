package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestEndToEnd walks an editorial day through a real server on a real port,
// over real PostgreSQL (event store and read models) with the projection
// runtime running.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	hs := &http.Server{Handler: e.srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	e.url = "http://" + ln.Addr().String()
	// A transport of its own: httptest servers of parallel tests close the
	// default transport's idle connections when they stop.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Timeout: 10 * time.Second, Transport: tr}

	// Accounts: the first is admin; the admin hands out roles.
	tm := e.team()
	var me struct {
		Role string `json:"role"`
	}
	e.must(200, req{Method: "GET", Path: "/api/v1/me", Token: tm.Admin.Access}).json(t, &me)
	if me.Role != "admin" {
		t.Fatalf("first account role %q", me.Role)
	}

	// The author drafts and edits twice.
	post := e.draft(tm.Author, "Event sourcing in practice", "Events are facts.\nThey never change.\n", "architecture")
	if post.Revision != 1 || post.Version != 1 || post.Position == 0 {
		t.Fatalf("draft result %+v", post)
	}
	path := "/api/v1/posts/" + post.ID
	edit := func(v uint64, body map[string]any) result {
		t.Helper()
		var r result
		e.must(200, req{Method: "PATCH", Path: path, Token: tm.Author.Access, Header: ifMatchHeader(v), Body: body}).json(t, &r)
		return r
	}
	rev2 := edit(post.Version, map[string]any{"body": "Events are facts.\nThey never change.\nProjections derive state.\n", "note": "more"})
	time.Sleep(20 * time.Millisecond)
	between := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	rev3 := edit(rev2.Version, map[string]any{"title": "Event sourcing, in practice", "body": "Events are facts.\nThey never change, ever.\nProjections derive state.\n",
		"tags": []string{"architecture", "cqrs"}, "note": "polish"})
	if rev3.Revision != 3 {
		t.Fatalf("third revision %+v", rev3)
	}
	// A stale edit is refused with the current version.
	stale := e.must(409, req{Method: "PATCH", Path: path, Token: tm.Author.Access, Header: ifMatchHeader(rev2.Version), Body: map[string]any{"body": "late"}})
	if p := stale.problem(t); p.Code != "version_conflict" || p.CurrentVersion == nil || *p.CurrentVersion != rev3.Version {
		t.Fatalf("stale edit problem %+v", p)
	}

	// Review round trip, then publication.
	step := func(who account, action string, v uint64, body any) result {
		t.Helper()
		var r result
		e.must(200, req{Method: "POST", Path: path + "/" + action, Token: who.Access, Header: ifMatchHeader(v), Body: body}).json(t, &r)
		return r
	}
	sub := step(tm.Author, "submit", rev3.Version, nil)
	back := step(tm.Editor, "request-changes", sub.Version, map[string]any{"comment": "tighten the intro"})
	sub2 := step(tm.Author, "submit", back.Version, nil)
	var pub result
	pubResp := e.must(200, req{Method: "POST", Path: path + "/publish", Token: tm.Editor.Access,
		Header: map[string]string{"If-Match": fmt.Sprintf(`"%d"`, sub2.Version), "X-Request-ID": "e2e-publish-1"}})
	pubResp.json(t, &pub)
	if pubResp.Header.Get("X-Event-Position") != fmt.Sprint(pub.Position) || pubResp.Header.Get("ETag") != fmt.Sprintf(`"%d"`, pub.Version) {
		t.Fatalf("publish headers: %v", pubResp.Header)
	}

	// A reader finds it by full-text search straight after publication.
	var found struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
	}
	e.must(200, req{Method: "GET", Path: "/api/v1/posts?q=" + url.QueryEscape("projections derive"), Token: tm.Reader.Access,
		Header: map[string]string{"X-Min-Position": fmt.Sprint(pub.Position)}}).json(t, &found)
	if len(found.Items) != 1 || found.Items[0].ID != post.ID || found.Items[0].Status != "published" {
		t.Fatalf("search after publish: %+v", found)
	}

	// The editor reverts to revision 1.
	rev := step(tm.Editor, "revert", pub.Version, map[string]any{"revision": 1, "note": "back to basics"})
	if rev.Revision != 4 {
		t.Fatalf("revert result %+v", rev)
	}
	wait := map[string]string{"X-Min-Position": fmt.Sprint(rev.Position)}

	// The auditor looks at everything.
	aud := tm.Auditor.Access
	var revs struct {
		Items []struct {
			Revision int    `json:"revision"`
			Kind     string `json:"kind"`
			Note     string `json:"note"`
			EventID  string `json:"event_id"`
		} `json:"items"`
	}
	e.must(200, req{Method: "GET", Path: path + "/revisions", Token: aud, Header: wait}).json(t, &revs)
	if len(revs.Items) != 4 || revs.Items[3].Revision != 4 || revs.Items[3].Kind != "reverted" || revs.Items[2].Note != "polish" {
		t.Fatalf("revisions: %+v", revs)
	}
	var diff revisionDiff
	e.must(200, req{Method: "GET", Path: path + "/diff?from=1&to=3", Token: aud, Header: wait}).json(t, &diff)
	if !diff.Title.Changed || diff.Title.After != "Event sourcing, in practice" || len(diff.Tags.Added) != 1 || diff.Tags.Added[0] != "cqrs" ||
		!diff.Body.Changed || len(diff.Body.Hunks) == 0 {
		t.Fatalf("diff: %+v", diff)
	}
	marked := false
	for _, h := range diff.Body.Hunks {
		for _, l := range h.Lines {
			for _, s := range l.Segments {
				if s.Kind == "insert" && strings.Contains(s.Text, "ever") {
					marked = true
				}
			}
		}
	}
	if !marked {
		t.Errorf("diff does not mark the inserted word: %+v", diff.Body.Hunks)
	}
	var then postAsOf
	e.must(200, req{Method: "GET", Path: path + "?as_of=" + url.QueryEscape(between.Format(time.RFC3339Nano)), Token: aud}).json(t, &then)
	if then.Revision != 2 || then.Version != rev2.Version || !strings.Contains(then.Body, "Projections derive state.") || strings.Contains(then.Body, "change, ever") {
		t.Fatalf("as_of between edits: %+v", then)
	}
	var hist struct {
		Items []struct {
			Version       uint64 `json:"version"`
			Type          string `json:"type"`
			CorrelationID string `json:"correlation_id"`
			Summary       string `json:"summary"`
		} `json:"items"`
	}
	e.must(200, req{Method: "GET", Path: path + "/history", Token: aud, Header: wait}).json(t, &hist)
	wantTypes := []string{"PostDrafted", "PostEdited", "PostEdited", "PostSubmittedForReview", "PostChangesRequested", "PostSubmittedForReview", "PostPublished", "PostReverted"}
	if len(hist.Items) != len(wantTypes) {
		t.Fatalf("history: %+v", hist)
	}
	for i, w := range wantTypes {
		if hist.Items[i].Type != w || hist.Items[i].Version != uint64(i+1) || hist.Items[i].CorrelationID == "" {
			t.Fatalf("history[%d] = %+v, want %s", i, hist.Items[i], w)
		}
	}
	var audit struct {
		Items []struct {
			Type  string `json:"type"`
			Actor struct {
				ID string `json:"id"`
			} `json:"actor"`
		} `json:"items"`
	}
	e.must(200, req{Method: "GET", Path: "/api/v1/audit?limit=100&actor=" + tm.Editor.ID, Token: aud, Header: wait}).json(t, &audit)
	got := map[string]int{}
	for _, it := range audit.Items {
		if it.Actor.ID != tm.Editor.ID {
			t.Fatalf("audit filter by actor leaked %+v", it)
		}
		got[it.Type]++
	}
	if got["PostPublished"] != 1 || got["PostChangesRequested"] != 1 || got["PostReverted"] != 1 {
		t.Fatalf("editor's audit trail: %v", got)
	}
	var raw struct {
		Items []struct {
			Type     string `json:"type"`
			Version  uint64 `json:"version"`
			Metadata struct {
				ActorID       string `json:"actor_id"`
				CorrelationID string `json:"correlation_id"`
			} `json:"metadata"`
		} `json:"items"`
	}
	e.must(200, req{Method: "GET", Path: path + "/events", Token: aud}).json(t, &raw)
	if len(raw.Items) != 8 || raw.Items[6].Type != "PostPublished" || raw.Items[6].Metadata.ActorID != tm.Editor.ID ||
		raw.Items[6].Metadata.CorrelationID != "e2e-publish-1" {
		t.Fatalf("raw events: %+v", raw)
	}
	// The global log never shows password hashes.
	var glob eventsPage
	e.must(200, req{Method: "GET", Path: "/api/v1/events?limit=1000", Token: aud}).json(t, &glob)
	if len(glob.Items) == 0 {
		t.Fatalf("global log empty")
	}
	for _, ev := range glob.Items {
		if strings.Contains(string(ev.Data), "$argon2id$") {
			t.Fatalf("password hash in the global log: %s", ev.Data)
		}
	}
	// The reader is refused the history.
	if r := e.do(req{Method: "GET", Path: path + "/history", Token: tm.Reader.Access}); r.Status != 403 {
		t.Fatalf("reader history: %d %s", r.Status, r.Body)
	}
	// And the current post reads as revision 1's content again.
	var cur struct {
		Title    string `json:"title"`
		Revision int    `json:"revision"`
		Status   string `json:"status"`
	}
	e.must(200, req{Method: "GET", Path: path, Token: tm.Reader.Access, Header: wait}).json(t, &cur)
	if cur.Title != "Event sourcing in practice" || cur.Revision != 4 || cur.Status != "published" {
		t.Fatalf("current post: %+v", cur)
	}
}
