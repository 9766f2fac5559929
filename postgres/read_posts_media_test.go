package postgres

import (
	"context"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// TestPostsCarryTheirFeatureImage checks that GetPost and ListPosts read
// the feature image with the post (one query) exactly as FeatureImages
// does: with the media item's size and renditions, with none of them while
// the media projection has not seen the item, and nil without an image.
func TestPostsCarryTheirFeatureImage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newReadModel(t)
	s := newSeed(t, pool)
	author := s.user("author", domain.RoleAuthor)
	at := s.base
	with := s.post(seedPost{title: "With image", status: domain.StatusPublished, author: author, at: at})
	pending := s.post(seedPost{title: "Media not projected yet", status: domain.StatusPublished, author: author, at: at.Add(1)})
	without := s.post(seedPost{title: "No image", status: domain.StatusPublished, author: author, at: at.Add(2)})

	mediaID, missingID := uuid.NewString(), uuid.NewString()
	s.exec(`INSERT INTO media (id, hash, type, size, width, height, uploader_id, renditions, version, created_at, updated_at, last_position)
		VALUES ($1, 'abc123', 'image/png', 100, 1200, 800, $2,
		'[{"name":"w640","width":640,"height":427,"type":"image/webp","size":10},{"name":"thumb","width":480,"height":320,"type":"image/webp","size":5}]',
		1, $3, $3, 1)`, mediaID, author, at)
	s.exec(`UPDATE posts SET feature_media_id = $2, feature_hash = 'abc123', feature_alt = 'A photo' WHERE id = $1`, with, mediaID)
	s.exec(`UPDATE posts SET feature_media_id = $2, feature_hash = 'def456', feature_alt = 'Soon' WHERE id = $1`, pending, missingID)

	r := NewReader(pool)
	want, err := r.FeatureImages(ctx, []string{with, pending, without})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 2 || len(want[with].Renditions) != 2 || want[with].Width != 1200 || want[pending].Hash != "def456" {
		t.Fatalf("FeatureImages = %+v", want)
	}
	check := func(what, id string, got *queries.MediaLink) {
		t.Helper()
		w, ok := want[id]
		switch {
		case !ok && got != nil:
			t.Errorf("%s %s: feature image %+v, want none", what, id, got)
		case ok && (got == nil || !reflect.DeepEqual(*got, w)):
			t.Errorf("%s %s: feature image %+v, want %+v", what, id, got, w)
		}
	}
	for _, id := range []string{with, pending, without} {
		p, err := r.GetPost(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		check("GetPost", id, p.FeatureImage)
	}
	page, err := r.ListPosts(ctx, queries.PostFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 3 {
		t.Fatalf("listed %d posts, want 3", len(page.Items))
	}
	for _, p := range page.Items {
		check("ListPosts", p.ID, p.FeatureImage)
		if (p.FeatureImage != nil) != (p.FeatureMediaID != "") {
			t.Errorf("post %s: FeatureMediaID %q with FeatureImage %v", p.ID, p.FeatureMediaID, p.FeatureImage)
		}
	}
}
