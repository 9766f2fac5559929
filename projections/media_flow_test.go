package projections

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/media"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// TestMediaFlowWithRebuild runs the media commands against the PostgreSQL
// event store, builds media_v1 with a blue/green Rebuild (so the tables of
// migration 0004 survive CREATE TABLE … LIKE), and uses the Reader as the
// commands' MediaUsage: a media item shown by a published post cannot be
// deleted until the post is unpublished.
func TestMediaFlowWithRebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, store := newStoreDB(t)
	blobs, err := media.NewFSStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reader := postgres.NewReader(pool)
	h, err := commands.New(commands.Config{Store: store, Hasher: commands.NewArgon2idHasher(commands.TestArgon2Params()),
		Media: commands.MediaConfig{Blobs: blobs, Usage: reader}})
	if err != nil {
		t.Fatal(err)
	}
	rebuild := func() {
		t.Helper()
		if err := Rebuild(ctx, RebuildConfig{Pool: pool, Store: store, Projection: NewMedia()}); err != nil {
			t.Fatal(err)
		}
	}
	author := commands.Meta{Actor: alice, CorrelationID: "req-1"}
	ed := commands.Meta{Actor: editor, CorrelationID: "req-2"}

	m := image.NewRGBA(image.Rect(0, 0, 320, 200))
	for i := range m.Pix {
		m.Pix[i] = uint8(i)
	}
	m.Set(0, 0, color.RGBA{1, 2, 3, 255})
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	up, err := h.UploadMedia(ctx, author, commands.UploadMedia{Alt: "cover", Reader: &buf})
	if err != nil {
		t.Fatal(err)
	}
	post, err := h.DraftPost(ctx, author, commands.DraftPost{Title: "Cover story", Body: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.SetFeatureImage(ctx, author, commands.SetFeatureImage{PostID: post.ID, MediaID: up.ID}); err != nil {
		t.Fatal(err)
	}
	pub, err := h.PublishPost(ctx, ed, commands.PostRef{PostID: post.ID})
	if err != nil {
		t.Fatal(err)
	}
	rebuild()
	got, err := reader.GetMedia(ctx, up.ID)
	if err != nil || got.Hash != up.Hash || got.Alt != "cover" || got.Width != 320 || len(got.Renditions) != len(up.Renditions) {
		t.Fatalf("get media = %+v, %v", got, err)
	}
	if page, err := reader.ListMedia(ctx, queries.MediaFilter{UploaderID: alice.ID}); err != nil || len(page.Items) != 1 {
		t.Fatalf("list = %+v, %v", page, err)
	}
	_, err = h.DeleteMedia(ctx, ed, commands.MediaRef{MediaID: up.ID})
	if domain.CodeOf(err) != "media_in_use" {
		t.Fatalf("delete while published = %v, want media_in_use", err)
	}
	if _, err := h.UnpublishPost(ctx, ed, commands.UnpublishPost{PostID: post.ID, ExpectedVersion: pub.Version}); err != nil {
		t.Fatal(err)
	}
	rebuild()
	if _, err := h.DeleteMedia(ctx, ed, commands.MediaRef{MediaID: up.ID}); err != nil {
		t.Fatalf("delete after unpublish: %v", err)
	}
	rebuild()
	if got, err := reader.GetMedia(ctx, up.ID); err != nil || got.DeletedAt == nil {
		t.Fatalf("deleted media = %+v, %v", got, err)
	}
}
