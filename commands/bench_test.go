package commands

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// seedPost creates a post whose stream holds n events (drafted + n-1 edits),
// deciding through the aggregate and appending in batches.
func seedPost(b *testing.B, h *Handler, n int) string {
	b.Helper()
	ctx := context.Background()
	res, err := h.DraftPost(ctx, meta(authorA), DraftPost{Title: fmt.Sprint("Bench ", n), Body: "body 0"})
	if err != nil {
		b.Fatal(err)
	}
	p, err := h.LoadPost(ctx, res.ID)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for v := 1; v < n; {
		for i := 0; i < 500 && v < n; i++ {
			v++
			if err := p.Edit(authorA, domain.PostContent{Title: p.Content.Title, Body: fmt.Sprint("body ", v)}, "", now); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := h.appendChanges(ctx, meta(authorA), "post-"+res.ID, p.OriginalVersion(), p.Changes()); err != nil {
			b.Fatal(err)
		}
		p.ClearChanges()
	}
	return res.ID
}

func benchEdit(b *testing.B, kind int, events int, cacheSize int) {
	store := storeKinds[kind].open(b)
	h, err := New(Config{Store: store, Hasher: NewArgon2idHasher(TestArgon2Params()), CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	id := seedPost(b, h, events)
	ctx := context.Background()
	p, err := h.LoadPost(ctx, id) // warm the cache
	if err != nil {
		b.Fatal(err)
	}
	if p.Version != uint64(events) {
		b.Fatalf("post at version %d", p.Version)
	}
	v := p.Version
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		body := fmt.Sprint("edit ", i)
		res, err := h.EditPost(ctx, meta(authorA), EditPost{PostID: id, ExpectedVersion: v, Body: &body})
		if err != nil {
			b.Fatal(err)
		}
		v = res.Version
	}
}

func BenchmarkEditPost_1Event(b *testing.B)      { benchEdit(b, 0, 1, 0) }
func BenchmarkEditPost_10000Events(b *testing.B) { benchEdit(b, 0, 10_000, 0) }

// BenchmarkEditPost_10000Events_NoCache shows what the cache saves: every
// edit folds the whole stream.
func BenchmarkEditPost_10000Events_NoCache(b *testing.B) { benchEdit(b, 0, 10_000, -1) }

func BenchmarkEditPostPostgres_1Event(b *testing.B)      { benchEdit(b, 1, 1, 0) }
func BenchmarkEditPostPostgres_10000Events(b *testing.B) { benchEdit(b, 1, 10_000, 0) }
func BenchmarkEditPostPostgres_10000Events_NoCache(b *testing.B) {
	benchEdit(b, 1, 10_000, -1)
}
