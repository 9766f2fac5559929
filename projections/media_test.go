package projections

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// newMediaDB is newReadDB plus the media tables of migration 0004.
func newMediaDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := newReadDB(t)
	sql, err := os.ReadFile("../postgres/migrations/0004_media.sql")
	if err != nil {
		t.Fatalf("read migration: %v", err)
	}
	if _, err := pool.Exec(context.Background(), string(sql)); err != nil {
		t.Fatalf("apply migration: %v", err)
	}
	return pool
}

func TestMediaProjection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newMediaDB(t)
	l := newEventLog(t)
	p := NewMedia()
	r := postgres.NewReader(pool)
	bob := domain.Actor{ID: uuid.NewString(), Role: domain.RoleAuthor}

	upload := func(by domain.Actor, typ string) (string, Event) {
		id := uuid.NewString()
		return id, l.add(domain.MediaStreamPrefix+id, by, domain.MediaUploaded{MediaID: id, Hash: strings.Repeat("a", 64), Type: typ,
			Size: 100, Width: 640, Height: 480, Alt: "alt " + id[:4], UploaderID: by.ID,
			Renditions: []domain.Rendition{{Name: "thumb", Width: 480, Height: 360, Type: "image/jpeg", Size: 50}}})
	}
	var ids []string
	for i := 0; i < 5; i++ {
		by, typ := alice, "image/jpeg"
		if i%2 == 1 {
			by, typ = bob, "image/png"
		}
		id, ev := upload(by, typ)
		ids = append(ids, id)
		apply(t, pool, p, ev)
		apply(t, pool, p, ev) // idempotent
	}
	// Newest first, paged by 2.
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := r.ListMedia(ctx, queries.MediaFilter{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Items {
			got = append(got, m.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(got, ",") != strings.Join([]string{ids[4], ids[3], ids[2], ids[1], ids[0]}, ",") {
		t.Fatalf("list order = %v, ids %v", got, ids)
	}
	if page, err := r.ListMedia(ctx, queries.MediaFilter{UploaderID: bob.ID}); err != nil || len(page.Items) != 2 {
		t.Fatalf("by uploader: %d items, %v", len(page.Items), err)
	}
	if page, err := r.ListMedia(ctx, queries.MediaFilter{Type: "image/jpeg"}); err != nil || len(page.Items) != 3 {
		t.Fatalf("by type: %d items, %v", len(page.Items), err)
	}
	if _, err := r.ListMedia(ctx, queries.MediaFilter{Cursor: "garbage!"}); domain.CodeOf(err) != "invalid_cursor" {
		t.Fatalf("bad cursor: %v", err)
	}

	// Alt change and delete.
	apply(t, pool, p, l.add(domain.MediaStreamPrefix+ids[0], alice, domain.MediaAltTextChanged{Alt: "new alt"}))
	m, err := r.GetMedia(ctx, ids[0])
	if err != nil || m.Alt != "new alt" || m.Version != 2 || m.Uploader.ID != alice.ID || len(m.Renditions) != 1 || m.Renditions[0].Name != "thumb" {
		t.Fatalf("get = %+v, %v", m, err)
	}
	apply(t, pool, p, l.add(domain.MediaStreamPrefix+ids[0], editor, domain.MediaDeleted{}))
	if m, err := r.GetMedia(ctx, ids[0]); err != nil || m.DeletedAt == nil {
		t.Fatalf("deleted = %+v, %v", m, err)
	}
	if page, _ := r.ListMedia(ctx, queries.MediaFilter{}); len(page.Items) != 4 {
		t.Fatalf("deleted item listed: %d items", len(page.Items))
	}
	var de *domain.Error
	if _, err := r.GetMedia(ctx, uuid.NewString()); !errors.As(err, &de) || de.Code != "media_not_found" {
		t.Fatalf("unknown media: %v", err)
	}

	// Usage by posts: only published or scheduled posts count.
	postID := uuid.NewString()
	ps := domain.PostStreamPrefix + postID
	mid := ids[1]
	count := func() int {
		n, err := r.PublishedPostsUsing(ctx, mid)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	steps := []struct {
		ev   domain.Event
		want int
	}{
		{domain.PostDrafted{PostID: postID, AuthorID: alice.ID, Slug: "p-" + postID[:8], PostContent: domain.PostContent{Title: "T", Body: "B"}, Revision: 1}, 0},
		{domain.PostFeatureImageSet{MediaID: mid, Hash: strings.Repeat("a", 64)}, 0},
		{domain.PostPublished{PublishedAt: l.now}, 1},
		{domain.PostEdited{PostContent: domain.PostContent{Title: "T2", Body: "B"}, Revision: 2}, 1},
		{domain.PostUnpublished{}, 0},
		{domain.PostScheduled{PublishAt: l.now.Add(48 * 3600e9)}, 1},
		{domain.PostFeatureImageSet{}, 0},
		{domain.PostFeatureImageSet{MediaID: mid, Hash: strings.Repeat("a", 64)}, 1},
		{domain.PostDeleted{PreviousStatus: domain.StatusScheduled}, 0},
		{domain.PostRestored{Status: domain.StatusDraft}, 0},
	}
	for i, st := range steps {
		ev := l.add(ps, editor, st.ev)
		apply(t, pool, p, ev)
		apply(t, pool, p, ev)
		if n := count(); n != st.want {
			t.Fatalf("step %d (%T): %d posts use the media, want %d", i, st.ev, n, st.want)
		}
	}
}
