package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

func ptr[T any](v T) *T { return &v }

func TestDraftPost(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		clk := newClock()
		h := newHandler(t, store, clk)

		res := must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: "Hello, World!", Body: "body", Tags: []string{"Go", "go", " cms "}}))
		if res.Slug != "hello-world" || res.Version != 1 || res.Revision != 1 || res.Position == 0 || !res.Changed {
			t.Fatalf("result %+v", res)
		}
		// Event and metadata as written.
		recs := rawEvents(t, store, "post-"+res.ID)
		if len(recs) != 1 || recs[0].Type != domain.EventPostDrafted || recs[0].Position != res.Position {
			t.Fatalf("events %+v", recs)
		}
		md := metadataOf(t, recs[0])
		want := domain.Metadata{ActorID: authorA.ID, ActorRole: domain.RoleAuthor, CorrelationID: "req-0a", CausationID: "cause-1", OccurredAt: clk.Now(), Schema: 1}
		if md != want {
			t.Fatalf("metadata %+v, want %+v", md, want)
		}
		ev, err := domain.DecodeEvent(recs[0].Type, md.Schema, recs[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		d := ev.(domain.PostDrafted)
		if d.PostID != res.ID || d.AuthorID != authorA.ID || d.Slug != "hello-world" || d.Revision != 1 || strings.Join(d.Tags, ",") != "go,cms" {
			t.Fatalf("payload %+v", d)
		}
		// The slug is reserved by the post.
		if owner, err := h.owner(ctx, SlugStream("hello-world")); err != nil || owner != res.ID {
			t.Fatalf("slug owner %q, %v", owner, err)
		}

		// Same title again: derived slugs get -2, -3.
		res2 := must(t)(h.DraftPost(ctx, meta(authorB), DraftPost{Title: "Hello world", Body: "b"}))
		res3 := must(t)(h.DraftPost(ctx, meta(editor), DraftPost{Title: "hello   WORLD", Body: "b"}))
		if res2.Slug != "hello-world-2" || res3.Slug != "hello-world-3" {
			t.Fatalf("slugs %q %q", res2.Slug, res3.Slug)
		}
		// An explicit slug that is taken is refused.
		_, err = h.DraftPost(ctx, meta(authorA), DraftPost{Title: "Other", Slug: "hello-world-2"})
		wantCode(t, err, domain.KindConflict, "slug_taken")
		// An explicit free slug is used as is.
		res4 := must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: "Other", Slug: "custom"}))
		if res4.Slug != "custom" {
			t.Fatalf("slug %q", res4.Slug)
		}

		// Refusals claim no slug.
		cases := []struct {
			name  string
			actor domain.Actor
			cmd   DraftPost
			kind  domain.Kind
			code  string
		}{
			{"a reader cannot create posts", reader, DraftPost{Title: "Reader post"}, domain.KindForbidden, "forbidden_role"},
			{"an auditor cannot create posts", auditor, DraftPost{Title: "Auditor post"}, domain.KindForbidden, "forbidden_role"},
			{"anonymous cannot create posts", domain.Actor{Role: domain.RoleReader}, DraftPost{Title: "Anon post"}, domain.KindForbidden, "forbidden_role"},
			{"empty title", authorA, DraftPost{Title: " ", Slug: "empty-title"}, domain.KindInvalid, "invalid_post"},
			{"bad slug", authorA, DraftPost{Title: "Bad slug", Slug: "Bad Slug"}, domain.KindInvalid, "invalid_slug"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := h.DraftPost(ctx, meta(tc.actor), tc.cmd)
				wantCode(t, err, tc.kind, tc.code)
				slug := tc.cmd.Slug
				if slug == "" {
					slug = domain.Slugify(tc.cmd.Title)
				}
				if domain.ValidSlug(slug) {
					if _, err := store.ReadStream(ctx, SlugStream(slug), eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
						t.Fatalf("slug %q was claimed by a refused command: %v", slug, err)
					}
				}
			})
		}
	})
}

func TestPostWorkflow(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		clk := newClock()
		h := newHandler(t, store, clk)
		res := must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: "Flow", Body: "v1"}))
		id := res.ID
		v := res.Version
		step := func(name string, want domain.PostStatus, do func(v uint64) (Result, error)) Result {
			t.Helper()
			clk.Advance(time.Minute)
			r, err := do(v)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if r.Version != v+1 || r.ID != id || !r.Changed || r.Position == 0 {
				t.Fatalf("%s: result %+v after version %d", name, r, v)
			}
			v = r.Version
			p, err := h.LoadPost(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != want || p.Version != v {
				t.Fatalf("%s: status %s version %d, want %s %d", name, p.Status, p.Version, want, v)
			}
			return r
		}
		r := step("edit", domain.StatusDraft, func(v uint64) (Result, error) {
			return h.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: v, Body: ptr("v2"), Note: "second"})
		})
		if r.Revision != 2 {
			t.Fatalf("revision %d", r.Revision)
		}
		step("submit", domain.StatusInReview, func(v uint64) (Result, error) {
			return h.SubmitPost(ctx, meta(authorA), PostRef{PostID: id, ExpectedVersion: v})
		})
		step("request changes", domain.StatusDraft, func(v uint64) (Result, error) {
			return h.RequestChanges(ctx, meta(editor), RequestChanges{PostID: id, ExpectedVersion: v, Comment: "more"})
		})
		step("submit again", domain.StatusInReview, func(v uint64) (Result, error) {
			return h.SubmitPost(ctx, meta(authorA), PostRef{PostID: id, ExpectedVersion: v})
		})
		step("publish", domain.StatusPublished, func(v uint64) (Result, error) {
			return h.PublishPost(ctx, meta(editor), PostRef{PostID: id, ExpectedVersion: v})
		})
		_, err := h.PublishPost(ctx, meta(editor), PostRef{PostID: id, ExpectedVersion: v})
		wantCode(t, err, domain.KindConflict, "invalid_transition")
		step("owner edits published post", domain.StatusPublished, func(v uint64) (Result, error) {
			return h.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: v, Title: ptr("Flow!"), Tags: &[]string{"x"}})
		})
		step("unpublish", domain.StatusDraft, func(v uint64) (Result, error) {
			return h.UnpublishPost(ctx, meta(editor), UnpublishPost{PostID: id, ExpectedVersion: v, Reason: "oops"})
		})
		at := clk.Now().Add(time.Hour)
		step("schedule", domain.StatusScheduled, func(v uint64) (Result, error) {
			return h.SchedulePost(ctx, meta(editor), SchedulePost{PostID: id, ExpectedVersion: v, PublishAt: at})
		})
		// Not due yet: a no-op.
		nr, err := h.PublishDue(ctx, Meta{Actor: domain.SystemActor, CorrelationID: "sched"}, id, clk.Now())
		if err != nil || nr.Changed || nr.Version != v {
			t.Fatalf("not due: %+v %v", nr, err)
		}
		clk.Advance(2 * time.Hour)
		r = step("publish due", domain.StatusPublished, func(v uint64) (Result, error) {
			return h.PublishDue(ctx, Meta{Actor: domain.SystemActor, CorrelationID: "sched"}, id, clk.Now())
		})
		// Already published: a no-op.
		nr, err = h.PublishDue(ctx, Meta{Actor: domain.SystemActor}, id, clk.Now())
		if err != nil || nr.Changed || nr.Version != v || nr.Position != 0 {
			t.Fatalf("already published: %+v %v", nr, err)
		}
		recs := rawEvents(t, store, "post-"+id)
		last := recs[len(recs)-1]
		if md := metadataOf(t, last); md.ActorRole != domain.RoleSystem || md.ActorID != "system" || md.CorrelationID != "sched" {
			t.Fatalf("scheduler metadata %+v", md)
		}
		if string(last.Data) == "" || !strings.Contains(string(last.Data), `"scheduled":true`) {
			t.Fatalf("published by scheduler: %s", last.Data)
		}
		step("archive", domain.StatusArchived, func(v uint64) (Result, error) {
			return h.ArchivePost(ctx, meta(editor), PostRef{PostID: id, ExpectedVersion: v})
		})
		_, err = h.EditPost(ctx, meta(editor), EditPost{PostID: id, ExpectedVersion: v, Body: ptr("x")})
		wantCode(t, err, domain.KindConflict, "invalid_transition")
		step("delete", domain.StatusDeleted, func(v uint64) (Result, error) {
			return h.DeletePost(ctx, meta(editor), PostRef{PostID: id, ExpectedVersion: v})
		})
		_, err = h.EditPost(ctx, meta(editor), EditPost{PostID: id, ExpectedVersion: v, Body: ptr("x")})
		wantCode(t, err, domain.KindConflict, "invalid_transition")
		step("restore from delete", domain.StatusArchived, func(v uint64) (Result, error) {
			return h.RestorePost(ctx, meta(editor), PostRef{PostID: id, ExpectedVersion: v})
		})
		step("restore from archive", domain.StatusDraft, func(v uint64) (Result, error) {
			return h.RestorePost(ctx, meta(editor), PostRef{PostID: id, ExpectedVersion: v})
		})
		r = step("revert", domain.StatusDraft, func(v uint64) (Result, error) {
			return h.RevertPost(ctx, meta(authorA), RevertPost{PostID: id, ExpectedVersion: v, Revision: 1, Note: "back"})
		})
		p, _ := h.LoadPost(ctx, id)
		if r.Revision != 4 || p.Content.Body != "v1" || p.Content.Title != "Flow" || p.Revision != 4 || len(p.Revisions) != 4 {
			t.Fatalf("after revert: result %+v post %+v", r, p)
		}
		_, err = h.RevertPost(ctx, meta(authorA), RevertPost{PostID: id, ExpectedVersion: v, Revision: 9})
		wantCode(t, err, domain.KindInvalid, "unknown_revision")
		_, err = h.RevertPost(ctx, meta(authorA), RevertPost{PostID: id, ExpectedVersion: v, Revision: 4})
		wantCode(t, err, domain.KindInvalid, "no_changes")
		_, err = h.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: v, Body: ptr("v1")})
		wantCode(t, err, domain.KindInvalid, "no_changes")
		// The owner deletes the draft.
		step("owner deletes draft", domain.StatusDeleted, func(v uint64) (Result, error) {
			return h.DeletePost(ctx, meta(authorA), PostRef{PostID: id, ExpectedVersion: v})
		})
		if got := len(rawEvents(t, store, "post-"+id)); uint64(got) != v {
			t.Fatalf("stream has %d events, version %d", got, v)
		}
	})
}

func TestPostCommandRefusals(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		h := newHandler(t, store, newClock())
		res := must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: "Mine", Body: "b"}))
		id, v := res.ID, res.Version
		future := time.Now().Add(24 * time.Hour)
		all := map[string]func(a domain.Actor) (Result, error){
			"edit": func(a domain.Actor) (Result, error) {
				return h.EditPost(ctx, meta(a), EditPost{PostID: id, ExpectedVersion: v, Body: ptr("x")})
			},
			"change slug": func(a domain.Actor) (Result, error) {
				return h.ChangeSlug(ctx, meta(a), ChangeSlug{PostID: id, ExpectedVersion: v, Slug: "x"})
			},
			"submit": func(a domain.Actor) (Result, error) {
				return h.SubmitPost(ctx, meta(a), PostRef{PostID: id, ExpectedVersion: v})
			},
			"request changes": func(a domain.Actor) (Result, error) {
				return h.RequestChanges(ctx, meta(a), RequestChanges{PostID: id, ExpectedVersion: v, Comment: "c"})
			},
			"publish": func(a domain.Actor) (Result, error) {
				return h.PublishPost(ctx, meta(a), PostRef{PostID: id, ExpectedVersion: v})
			},
			"schedule": func(a domain.Actor) (Result, error) {
				return h.SchedulePost(ctx, meta(a), SchedulePost{PostID: id, ExpectedVersion: v, PublishAt: future})
			},
			"unpublish": func(a domain.Actor) (Result, error) {
				return h.UnpublishPost(ctx, meta(a), UnpublishPost{PostID: id, ExpectedVersion: v})
			},
			"archive": func(a domain.Actor) (Result, error) {
				return h.ArchivePost(ctx, meta(a), PostRef{PostID: id, ExpectedVersion: v})
			},
			"delete": func(a domain.Actor) (Result, error) {
				return h.DeletePost(ctx, meta(a), PostRef{PostID: id, ExpectedVersion: v})
			},
			"restore": func(a domain.Actor) (Result, error) {
				return h.RestorePost(ctx, meta(a), PostRef{PostID: id, ExpectedVersion: v})
			},
			"revert": func(a domain.Actor) (Result, error) {
				return h.RevertPost(ctx, meta(a), RevertPost{PostID: id, ExpectedVersion: v, Revision: 1})
			},
			"publish due": func(a domain.Actor) (Result, error) { return h.PublishDue(ctx, meta(a), id, future) },
		}
		for name, do := range all {
			t.Run("auditor cannot "+name, func(t *testing.T) {
				_, err := do(auditor)
				wantCode(t, err, domain.KindForbidden, "forbidden_role")
			})
		}
		t.Run("author cannot edit someone else's post", func(t *testing.T) {
			_, err := all["edit"](authorB)
			wantCode(t, err, domain.KindForbidden, "not_owner")
		})
		t.Run("author cannot publish", func(t *testing.T) {
			_, err := all["publish"](authorA)
			wantCode(t, err, domain.KindForbidden, "forbidden_role")
		})
		t.Run("stale version is a conflict before deciding", func(t *testing.T) {
			// Even a forbidden actor learns only about the version: it is checked first.
			_, err := h.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: v + 5, Body: ptr("x")})
			de := wantCode(t, err, domain.KindConflict, "version_conflict")
			if de.Detail["current_version"] != v {
				t.Fatalf("detail %v", de.Detail)
			}
		})
		t.Run("unknown post", func(t *testing.T) {
			_, err := h.PublishPost(ctx, meta(editor), PostRef{PostID: "0190a000-0000-7000-8000-0000000000ff", ExpectedVersion: 1})
			wantCode(t, err, domain.KindNotFound, "post_not_found")
			_, err = h.PublishPost(ctx, meta(editor), PostRef{PostID: "not a uuid", ExpectedVersion: 1})
			wantCode(t, err, domain.KindNotFound, "post_not_found")
			_, err = h.LoadPost(ctx, "0190a000-0000-7000-8000-0000000000ff")
			wantCode(t, err, domain.KindNotFound, "post_not_found")
		})
		if got := len(rawEvents(t, store, "post-"+id)); got != 1 {
			t.Fatalf("refusals wrote events: %d", got)
		}
		p, err := h.LoadPost(ctx, id)
		if err != nil || p.Version != 1 || p.Status != domain.StatusDraft || len(p.Revisions) != 1 {
			t.Fatalf("refusals changed the cached post: %+v %v", p, err)
		}
	})
}

func TestConcurrentEditsOneWinner(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		clk := newClock()
		setup := newHandler(t, store, clk)
		res := must(t)(setup.DraftPost(ctx, meta(authorA), DraftPost{Title: "Race", Body: "b"}))
		// Several handler instances (as in several processes), each with its
		// own cache, and several goroutines per handler.
		handlers := []*Handler{newHandler(t, store, clk), newHandler(t, store, clk), newHandler(t, store, clk)}
		for _, h := range handlers {
			if _, err := h.LoadPost(ctx, res.ID); err != nil { // warm the caches at version 1
				t.Fatal(err)
			}
		}
		const n = 12
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = handlers[i%len(handlers)].EditPost(ctx, meta(authorA), EditPost{PostID: res.ID, ExpectedVersion: 1, Body: ptr(fmt.Sprint("edit ", i))})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case domain.CodeOf(err) != "version_conflict":
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d winners", wins)
		}
		for _, h := range handlers {
			p, err := h.LoadPost(ctx, res.ID)
			if err != nil || p.Version != 2 || p.Revision != 2 {
				t.Fatalf("post after race: %+v %v", p, err)
			}
		}
	})
}

func TestChangeSlug(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		fs := &faultStore{Store: store}
		h := newHandler(t, fs, newClock())
		a := must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: "Alpha"}))
		b := must(t)(h.DraftPost(ctx, meta(authorB), DraftPost{Title: "Beta"}))

		_, err := h.ChangeSlug(ctx, meta(authorA), ChangeSlug{PostID: a.ID, ExpectedVersion: 1, Slug: "beta"})
		wantCode(t, err, domain.KindConflict, "slug_taken")

		r := must(t)(h.ChangeSlug(ctx, meta(authorA), ChangeSlug{PostID: a.ID, ExpectedVersion: 1, Slug: "alpha-2"}))
		if r.Slug != "alpha-2" || r.Version != 2 {
			t.Fatalf("result %+v", r)
		}
		for slug, want := range map[string]string{"alpha": "", "alpha-2": a.ID, "beta": b.ID} {
			if owner, err := h.owner(ctx, SlugStream(slug)); err != nil || owner != want {
				t.Fatalf("owner of %s = %q (%v), want %q", slug, owner, err, want)
			}
		}
		// The released slug can be claimed by another post...
		must(t)(h.ChangeSlug(ctx, meta(authorB), ChangeSlug{PostID: b.ID, ExpectedVersion: 1, Slug: "alpha"}))
		// ...and the first post can take back its own slug after releasing it.
		must(t)(h.ChangeSlug(ctx, meta(authorB), ChangeSlug{PostID: b.ID, ExpectedVersion: 2, Slug: "beta"}))
		must(t)(h.ChangeSlug(ctx, meta(authorA), ChangeSlug{PostID: a.ID, ExpectedVersion: 2, Slug: "alpha"}))

		// When the post event cannot be stored, the new claim is released.
		fs.setFail(func(stream string) error {
			if strings.HasPrefix(stream, "post-") {
				return errors.New("disk on fire")
			}
			return nil
		})
		_, err = h.ChangeSlug(ctx, meta(authorA), ChangeSlug{PostID: a.ID, ExpectedVersion: 3, Slug: "gamma"})
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("err = %v", err)
		}
		fs.setFail(nil)
		if owner, _ := h.owner(ctx, SlugStream("gamma")); owner != "" {
			t.Fatalf("gamma still owned by %q", owner)
		}
		p, _ := h.LoadPost(ctx, a.ID)
		if p.Slug != "alpha" || p.Version != 3 {
			t.Fatalf("post after failed append: slug %q version %d", p.Slug, p.Version)
		}
		// Same for DraftPost.
		fs.setFail(func(stream string) error {
			if strings.HasPrefix(stream, "post-") {
				return errors.New("disk on fire")
			}
			return nil
		})
		if _, err := h.DraftPost(ctx, meta(authorA), DraftPost{Title: "Delta"}); err == nil {
			t.Fatal("draft succeeded")
		}
		fs.setFail(nil)
		if owner, _ := h.owner(ctx, SlugStream("delta")); owner != "" {
			t.Fatalf("delta still owned by %q", owner)
		}
		if r := must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: "Delta"})); r.Slug != "delta" {
			t.Fatalf("slug %q", r.Slug)
		}
	})
}

func TestPostAtAndEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		clk := newClock()
		h := newHandler(t, store, clk)
		t0 := clk.Now()
		res := must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: "T1", Body: "one"}))
		clk.Advance(time.Hour)
		t1 := clk.Now()
		must(t)(h.EditPost(ctx, meta(authorA), EditPost{PostID: res.ID, ExpectedVersion: 1, Title: ptr("T2")}))
		clk.Advance(time.Hour)
		t2 := clk.Now()
		must(t)(h.PublishPost(ctx, meta(editor), PostRef{PostID: res.ID, ExpectedVersion: 2}))

		cases := []struct {
			name    string
			asOf    time.Time
			version uint64
			title   string
			status  domain.PostStatus
			ver     uint64
			code    string
		}{
			{name: "before creation", asOf: t0.Add(-time.Second), code: "post_not_found"},
			{name: "at creation", asOf: t0, title: "T1", status: domain.StatusDraft, ver: 1},
			{name: "between", asOf: t1.Add(-time.Minute), title: "T1", status: domain.StatusDraft, ver: 1},
			{name: "at edit", asOf: t1, title: "T2", status: domain.StatusDraft, ver: 2},
			{name: "now", asOf: t2.Add(time.Hour), title: "T2", status: domain.StatusPublished, ver: 3},
			{name: "version 1", version: 1, title: "T1", status: domain.StatusDraft, ver: 1},
			{name: "version 3", asOf: t0, version: 3, title: "T2", status: domain.StatusPublished, ver: 3},
			{name: "version beyond", version: 4, code: "version_not_found"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p, err := h.PostAt(ctx, res.ID, tc.asOf, tc.version)
				if tc.code != "" {
					wantCode(t, err, domain.KindNotFound, tc.code)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if p.Content.Title != tc.title || p.Status != tc.status || p.Version != tc.ver {
					t.Fatalf("got %q %s v%d", p.Content.Title, p.Status, p.Version)
				}
			})
		}
		evs, err := h.PostEvents(ctx, res.ID)
		if err != nil || len(evs) != 3 {
			t.Fatalf("events %v %v", evs, err)
		}
		if evs[0].Type != domain.EventPostDrafted || evs[2].Type != domain.EventPostPublished || evs[2].Version != 3 ||
			evs[1].Metadata.ActorID != authorA.ID || !evs[1].Metadata.OccurredAt.Equal(t1) || evs[2].Metadata.ActorRole != domain.RoleEditor ||
			!strings.Contains(string(evs[1].Data), `"T2"`) || evs[0].ID == "" || evs[2].Position <= evs[0].Position {
			t.Fatalf("events %+v", evs)
		}
		_, err = h.PostEvents(ctx, "0190a000-0000-7000-8000-0000000000ff")
		wantCode(t, err, domain.KindNotFound, "post_not_found")
	})
}

func TestCacheCatchesUpWithOtherHandlers(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		clk := newClock()
		h1, h2 := newHandler(t, store, clk), newHandler(t, store, clk)
		res := must(t)(h1.DraftPost(ctx, meta(authorA), DraftPost{Title: "Cached", Body: "b"}))
		if _, err := h1.LoadPost(ctx, res.ID); err != nil { // cached in h1 at version 1
			t.Fatal(err)
		}
		must(t)(h2.EditPost(ctx, meta(authorA), EditPost{PostID: res.ID, ExpectedVersion: 1, Body: ptr("by h2")}))
		p, err := h1.LoadPost(ctx, res.ID)
		if err != nil || p.Version != 2 || p.Content.Body != "by h2" {
			t.Fatalf("h1 sees %+v %v", p, err)
		}
		// h1 decides on the caught-up state.
		_, err = h1.EditPost(ctx, meta(authorA), EditPost{PostID: res.ID, ExpectedVersion: 1, Body: ptr("stale")})
		wantCode(t, err, domain.KindConflict, "version_conflict")
		must(t)(h1.EditPost(ctx, meta(authorA), EditPost{PostID: res.ID, ExpectedVersion: 2, Body: ptr("by h1")}))
		// A loaded post is a snapshot: later commands do not change it.
		if p.Content.Body != "by h2" || len(p.Revisions) != 2 {
			t.Fatalf("snapshot changed: %+v", p)
		}
		// Another handler appending directly to the store is seen too.
		p2, err := h2.LoadPost(ctx, res.ID)
		if err != nil || p2.Version != 3 || p2.Content.Body != "by h1" {
			t.Fatalf("h2 sees %+v %v", p2, err)
		}
	})
}

func TestCacheBounded(t *testing.T) {
	ctx := context.Background()
	store := storeKinds[0].open(t)
	for _, size := range []int{-1, 2} {
		t.Run(fmt.Sprint("size ", size), func(t *testing.T) {
			h, err := New(Config{Store: store, Hasher: NewArgon2idHasher(TestArgon2Params()), CacheSize: size})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i := range 5 {
				ids = append(ids, must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: fmt.Sprint("Bounded ", size, " ", i)})).ID)
			}
			for _, id := range ids {
				must(t)(h.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: 1, Body: ptr("x")}))
			}
			for _, id := range ids {
				p, err := h.LoadPost(ctx, id)
				if err != nil || p.Version != 2 {
					t.Fatalf("post %s: %+v %v", id, p, err)
				}
			}
			if n := h.posts.len(); n > max(size, 0) {
				t.Fatalf("cache holds %d posts, bound %d", n, size)
			}
		})
	}
}

// TestCacheByteBudget: posts are evicted once their revisions' text passes
// Config.CacheBytes, whatever their number, the accounting follows edits
// and evictions exactly, and evicted posts still load and edit correctly.
func TestCacheByteBudget(t *testing.T) {
	ctx := context.Background()
	store := storeKinds[0].open(t)
	body := strings.Repeat("A paragraph of a long post. ", 400) // ~11 kB a revision
	h, err := New(Config{Store: store, Hasher: NewArgon2idHasher(TestArgon2Params()), CacheBytes: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	accounted := func() (sum, want int64) {
		h.posts.mu.Lock()
		defer h.posts.mu.Unlock()
		for el := h.posts.order.Front(); el != nil; el = el.Next() {
			e := el.Value.(*entry[*domain.Post])
			sum += e.size
			b, _ := postBytes(e.agg, 0)
			want += b
		}
		if sum != h.posts.bytes {
			t.Fatalf("cache counts %d bytes, its entries %d", h.posts.bytes, sum)
		}
		return sum, want
	}
	var ids []string
	for i := range 6 {
		res := must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: fmt.Sprint("Heavy ", i), Body: body}))
		ids = append(ids, res.ID)
		for v := uint64(1); v < 4; v++ { // 4 revisions: ~45 kB
			must(t)(h.EditPost(ctx, meta(authorA), EditPost{PostID: res.ID, ExpectedVersion: v, Body: ptr(fmt.Sprint(body, v))}))
		}
		// A refused edit puts the cached post back as it was.
		if _, err := h.EditPost(ctx, meta(authorA), EditPost{PostID: res.ID, ExpectedVersion: 4, Title: ptr("")}); err == nil {
			t.Fatal("an edit to an empty title was accepted")
		}
		if sum, want := accounted(); sum != want || sum > 100_000 && h.posts.len() > 1 {
			t.Fatalf("after post %d: %d bytes accounted, %d held, %d posts", i, sum, want, h.posts.len())
		}
	}
	if n := h.posts.len(); n < 1 || n > 2 {
		t.Fatalf("cache holds %d posts of ~45 kB under a 100 kB budget", n)
	}
	for _, id := range ids { // evicted ones are loaded again, and edit at their version
		p, err := h.LoadPost(ctx, id)
		if err != nil || p.Version != 4 || len(p.Revisions) != 4 {
			t.Fatalf("post %s: %v, version %d", id, err, p.Version)
		}
		must(t)(h.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: 4, Body: ptr("short now")}))
	}
	if sum, want := accounted(); sum != want || sum > 100_000 && h.posts.len() > 1 {
		t.Fatalf("at the end: %d bytes accounted, %d held, %d posts", sum, want, h.posts.len())
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a store succeeded")
	}
	h, err := New(Config{Store: storeKinds[0].open(t)})
	if err != nil || h.hasher == nil || h.clock == nil {
		t.Fatalf("defaults not applied: %v", err)
	}
}
