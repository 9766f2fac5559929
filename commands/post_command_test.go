package commands

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// readCountingStore counts the stream reads that reach the store.
type readCountingStore struct {
	eventstore.Store
	reads atomic.Int64
}

func (s *readCountingStore) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	s.reads.Add(1)
	return s.Store.ReadStream(ctx, stream, opts)
}

// cachedVersion returns the version of the post as h's cache holds it,
// without reading the store (0: not cached).
func cachedVersion(h *Handler, postID string) uint64 {
	e := h.posts.acquire(domain.PostStreamPrefix + postID)
	defer e.mu.Unlock()
	if !e.loaded {
		return 0
	}
	return e.agg.Version
}

func TestEditOfCachedPostReadsNoStream(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		counting := &readCountingStore{Store: store}
		clk := newClock()
		h := newHandler(t, counting, clk)
		res := must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: "Optimistic", Body: "v1"}))
		claimReads := counting.reads.Load() // the slug claim reads its reservation stream
		v := res.Version
		for i := range 3 {
			res = must(t)(h.EditPost(ctx, meta(authorA), EditPost{PostID: res.ID, ExpectedVersion: v, Body: ptr(string(rune('a' + i)))}))
			if res.Version != v+1 || res.Revision != i+2 || !res.Changed {
				t.Fatalf("edit %d: %+v", i, res)
			}
			v = res.Version
		}
		if n := counting.reads.Load() - claimReads; n != 0 {
			t.Fatalf("edits of a post drafted by this handler read its stream %d times", n)
		}

		// Another handler loads the post once, then edits from its cache.
		counting2 := &readCountingStore{Store: store}
		h2 := newHandler(t, counting2, clk)
		for i := range 3 {
			res = must(t)(h2.EditPost(ctx, meta(authorA), EditPost{PostID: res.ID, ExpectedVersion: v, Body: ptr(string(rune('x' + i)))}))
			v = res.Version
		}
		if n := counting2.reads.Load(); n != 1 {
			t.Fatalf("three edits on a second handler read the stream %d times, want 1 (the first load)", n)
		}
		p, err := h.LoadPost(ctx, res.ID)
		if err != nil || p.Version != 7 || p.Content.Body != "z" || p.Revision != 7 {
			t.Fatalf("post: %+v %v", p, err)
		}
	})
}

func TestStaleCacheGivesTheCurrentAnswer(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		clk := newClock()
		// h1 drafts, so it caches each post at version 1; h2 then changes
		// the posts behind h1's back, as another process would.
		h1, h2 := newHandler(t, store, clk), newHandler(t, store, clk)
		draft := func(title string) string {
			t.Helper()
			id := must(t)(h1.DraftPost(ctx, meta(authorA), DraftPost{Title: title, Body: "b"})).ID
			if v := cachedVersion(h1, id); v != 1 {
				t.Fatalf("drafted post cached at version %d", v)
			}
			return id
		}

		t.Run("edit at the stale version is a conflict with the current version", func(t *testing.T) {
			id := draft("Stale edit")
			must(t)(h2.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: 1, Body: ptr("by h2")}))
			_, err := h1.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: 1, Body: ptr("stale")})
			de := wantCode(t, err, domain.KindConflict, "version_conflict")
			if de.Detail["current_version"] != uint64(2) {
				t.Fatalf("detail %v", de.Detail)
			}
			if got := len(rawEvents(t, store, "post-"+id)); got != 2 {
				t.Fatalf("stream has %d events, want 2", got)
			}
			if v := cachedVersion(h1, id); v != 2 {
				t.Fatalf("h1 caches version %d after the conflict, want 2", v)
			}
			res := must(t)(h1.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: 2, Body: ptr("by h1")}))
			if res.Version != 3 || res.Revision != 3 {
				t.Fatalf("edit after catching up: %+v", res)
			}
		})

		t.Run("a refusal on the stale state is not the answer", func(t *testing.T) {
			// On h1's stale post the edit changes nothing (no_changes); on
			// the current post the version is stale.
			id := draft("Stale refusal")
			must(t)(h2.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: 1, Body: ptr("by h2")}))
			_, err := h1.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: 1, Body: ptr("b")})
			de := wantCode(t, err, domain.KindConflict, "version_conflict")
			if de.Detail["current_version"] != uint64(2) {
				t.Fatalf("detail %v", de.Detail)
			}
		})

		t.Run("a newer expected version catches up first", func(t *testing.T) {
			id := draft("Newer version")
			must(t)(h2.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: 1, Body: ptr("by h2")}))
			res := must(t)(h1.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: 2, Body: ptr("by h1")}))
			if res.Version != 3 || res.Revision != 3 {
				t.Fatalf("edit: %+v", res)
			}
		})

		t.Run("an unchecked command that is a no-op on the stale state", func(t *testing.T) {
			// h1 caches a draft; h2 schedules it. Publishing due posts is a
			// no-op for a draft, but must publish the scheduled post.
			id := draft("Stale no-op")
			at := clk.Now().Add(time.Hour)
			must(t)(h2.SchedulePost(ctx, meta(editor), SchedulePost{PostID: id, ExpectedVersion: 1, PublishAt: at}))
			res := must(t)(h1.PublishDue(ctx, Meta{Actor: domain.SystemActor}, id, at.Add(time.Minute)))
			if !res.Changed || res.Version != 3 {
				t.Fatalf("publish due: %+v", res)
			}
			p, err := h2.LoadPost(ctx, id)
			if err != nil || p.Status != domain.StatusPublished || p.Version != 3 {
				t.Fatalf("post: %+v %v", p, err)
			}
		})

		t.Run("an unchecked command whose stale append is refused decides again", func(t *testing.T) {
			// h1 schedules (its cache: scheduled at version 2); h2 edits the
			// scheduled post. h1's publication, decided at version 2, is
			// refused by the store and decided again at version 3.
			id := draft("Stale append")
			at := clk.Now().Add(time.Hour)
			must(t)(h1.SchedulePost(ctx, meta(editor), SchedulePost{PostID: id, ExpectedVersion: 1, PublishAt: at}))
			must(t)(h2.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: 2, Body: ptr("edited while scheduled")}))
			res := must(t)(h1.PublishDue(ctx, Meta{Actor: domain.SystemActor}, id, at.Add(time.Minute)))
			if !res.Changed || res.Version != 4 || res.Revision != 2 {
				t.Fatalf("publish due: %+v", res)
			}
			recs := rawEvents(t, store, "post-"+id)
			if len(recs) != 4 || recs[3].Type != domain.EventPostPublished {
				t.Fatalf("stream: %d events, last %q", len(recs), recs[len(recs)-1].Type)
			}
			p, err := h1.LoadPost(ctx, id)
			if err != nil || p.Content.Body != "edited while scheduled" || p.Status != domain.StatusPublished {
				t.Fatalf("post: %+v %v", p, err)
			}
		})
	})
}
