package commands

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/media"
)

// testJPEG returns a w×h JPEG whose pixels depend on seed.
func testJPEG(t testing.TB, w, h int, seed uint8) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetRGBA(x, y, color.RGBA{uint8(x) + seed, uint8(y), seed, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngBombHeader is a PNG signature and an IHDR declaring w×h pixels.
func pngBombHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// usage is a MediaUsage answering from a map.
type usage struct {
	mu sync.Mutex
	n  map[string]int
}

func (u *usage) PublishedPostsUsing(_ context.Context, mediaID string) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[mediaID], nil
}

func newMediaHandler(t *testing.T, store eventstore.Store, limits media.Limits, u MediaUsage) (*Handler, string) {
	t.Helper()
	dir := t.TempDir()
	blobs, err := media.NewFSStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Store: store, Hasher: NewArgon2idHasher(TestArgon2Params()), Now: newClock().Now,
		Media: MediaConfig{Blobs: blobs, Limits: limits, Usage: u}})
	if err != nil {
		t.Fatal(err)
	}
	return h, dir
}

// blobFiles lists every file under dir (relative paths).
func blobFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventsOfType reads the whole log and returns the events of type typ.
func eventsOfType(t *testing.T, store eventstore.Store, typ string) []eventstore.RecordedEvent {
	t.Helper()
	recs, err := store.ReadAll(context.Background(), eventstore.ReadAllOptions{Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	var out []eventstore.RecordedEvent
	for _, r := range recs {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

func TestUploadMedia(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		h, dir := newMediaHandler(t, store, media.Limits{}, nil)
		data := testJPEG(t, 1400, 700, 1)

		res, err := h.UploadMedia(ctx, meta(authorA), UploadMedia{Filename: "../../etc/passwd.jpg", Alt: " sunset ", Reader: bytes.NewReader(data), Size: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Changed || res.Version != 1 || res.Position == 0 || res.Type != media.TypeJPEG || res.Width != 1400 || res.Height != 700 ||
			res.Alt != "sunset" || res.UploaderID != authorA.ID || len(res.Hash) != 64 || res.Size != int64(len(data)) {
			t.Fatalf("result = %+v", res)
		}
		names := map[string]domain.Rendition{}
		for _, r := range res.Renditions {
			names[r.Name] = r
		}
		if len(names) != 4 || names["w1280"].Width != 1280 || names["w1280"].Height != 640 || names["thumb"].Width != 480 {
			t.Fatalf("renditions = %+v", res.Renditions)
		}
		// The blobs are named by hash and rendition only.
		files := blobFiles(t, dir)
		if len(files) != 5 {
			t.Fatalf("blob files = %v", files)
		}
		for _, f := range files {
			if !strings.HasPrefix(f, filepath.Join(res.Hash[:2], res.Hash)+string(filepath.Separator)) || strings.Contains(f, "passwd") {
				t.Fatalf("unexpected blob path %s", f)
			}
		}
		stored, err := os.ReadFile(filepath.Join(dir, res.Hash[:2], res.Hash, "w1280"))
		if err != nil || int64(len(stored)) != names["w1280"].Size {
			t.Fatalf("w1280 blob: %d bytes, %v", len(stored), err)
		}
		// The event and the reservation.
		recs := rawEvents(t, store, domain.MediaStreamPrefix+res.ID)
		if len(recs) != 1 || recs[0].Type != domain.EventMediaUploaded {
			t.Fatalf("media stream = %+v", recs)
		}
		if md := metadataOf(t, recs[0]); md.ActorID != authorA.ID || md.Schema != 1 {
			t.Fatalf("metadata = %+v", md)
		}
		if owner, err := h.owner(ctx, MediaHashStream(res.Hash)); err != nil || owner != res.ID {
			t.Fatalf("reservation owner = %q, %v", owner, err)
		}

		// The same bytes again, by someone else: the same media, nothing new.
		again, err := h.UploadMedia(ctx, meta(editor), UploadMedia{Filename: "other.png", Reader: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		if again.Changed || again.ID != res.ID || again.Version != 1 || again.Alt != "sunset" {
			t.Fatalf("second upload = %+v", again)
		}
		if n := len(eventsOfType(t, store, domain.EventMediaUploaded)); n != 1 {
			t.Fatalf("%d MediaUploaded events", n)
		}
		if files2 := blobFiles(t, dir); len(files2) != 5 {
			t.Fatalf("blob files after dedupe = %v", files2)
		}

		// Load, change the alt text, delete, re-upload.
		changed, err := h.ChangeMediaAlt(ctx, meta(authorA), ChangeMediaAlt{MediaID: res.ID, ExpectedVersion: 1, Alt: "dusk"})
		if err != nil || !changed.Changed || changed.Version != 2 || changed.Alt != "dusk" {
			t.Fatalf("change alt = %+v, %v", changed, err)
		}
		_, err = h.ChangeMediaAlt(ctx, meta(authorA), ChangeMediaAlt{MediaID: res.ID, ExpectedVersion: 1, Alt: "x"})
		wantCode(t, err, domain.KindConflict, "version_conflict")
		_, err = h.ChangeMediaAlt(ctx, meta(authorB), ChangeMediaAlt{MediaID: res.ID, Alt: "x"})
		wantCode(t, err, domain.KindForbidden, "not_owner")
		_, err = h.DeleteMedia(ctx, meta(authorA), MediaRef{MediaID: res.ID})
		wantCode(t, err, domain.KindForbidden, "forbidden_role")
		_, err = h.DeleteMedia(ctx, meta(auditor), MediaRef{MediaID: res.ID})
		wantCode(t, err, domain.KindForbidden, "forbidden_role")
		del, err := h.DeleteMedia(ctx, meta(editor), MediaRef{MediaID: res.ID, ExpectedVersion: 2})
		if err != nil || !del.Deleted || del.Version != 3 {
			t.Fatalf("delete = %+v, %v", del, err)
		}
		if owner, _ := h.owner(ctx, MediaHashStream(res.Hash)); owner != "" {
			t.Fatalf("reservation still held by %s after delete", owner)
		}
		fresh, err := h.UploadMedia(ctx, meta(authorB), UploadMedia{Reader: bytes.NewReader(data)})
		if err != nil || !fresh.Changed || fresh.ID == res.ID {
			t.Fatalf("upload after delete = %+v, %v", fresh, err)
		}
		_, err = h.LoadMedia(ctx, "not-a-uuid")
		wantCode(t, err, domain.KindNotFound, "media_not_found")
	})
}

func TestUploadMediaRefusalsLeaveNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		h, dir := newMediaHandler(t, store, media.Limits{MaxBytes: 64 << 10}, nil)
		jpg := testJPEG(t, 64, 64, 2)
		big := testJPEG(t, 1200, 1200, 3)
		if len(big) <= 64<<10 {
			t.Fatalf("fixture too small: %d", len(big))
		}
		tests := []struct {
			name  string
			actor domain.Actor
			c     UploadMedia
			kind  domain.Kind
			code  string
		}{
			{"reader", reader, UploadMedia{Reader: bytes.NewReader(jpg)}, domain.KindForbidden, "forbidden_role"},
			{"auditor", auditor, UploadMedia{Reader: bytes.NewReader(jpg)}, domain.KindForbidden, "forbidden_role"},
			{"declared too large", authorA, UploadMedia{Reader: bytes.NewReader(jpg), Size: 1 << 30}, domain.KindTooLarge, "media_too_large"},
			{"too large", authorA, UploadMedia{Reader: bytes.NewReader(big)}, domain.KindTooLarge, "media_too_large"},
			{"html named png", authorA, UploadMedia{Filename: "x.png", Reader: strings.NewReader("<html><body><script>alert(1)</script>")}, domain.KindInvalid, "unsupported_media_type"},
			{"png bomb", authorA, UploadMedia{Filename: "bomb.png", Reader: bytes.NewReader(pngBombHeader(30000, 30000))}, domain.KindInvalid, "media_too_many_pixels"},
			{"truncated jpeg", authorA, UploadMedia{Reader: bytes.NewReader(jpg[:len(jpg)-200])}, domain.KindInvalid, "corrupt_image"},
			{"alt too long", authorA, UploadMedia{Alt: strings.Repeat("a", 1001), Reader: bytes.NewReader(jpg)}, domain.KindInvalid, "invalid_alt"},
			{"no file", authorA, UploadMedia{}, domain.KindInvalid, "empty_upload"},
		}
		for _, tt := range tests {
			_, err := h.UploadMedia(ctx, meta(tt.actor), tt.c)
			wantCode(t, err, tt.kind, tt.code)
		}
		if files := blobFiles(t, dir); len(files) != 0 {
			t.Fatalf("refusals left files: %v", files)
		}
		if head, err := store.Head(ctx); err != nil || head != 0 {
			t.Fatalf("refusals left events: head %d, %v", head, err)
		}
	})
}

func TestUploadMediaConcurrentSameBytes(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		h, dir := newMediaHandler(t, store, media.Limits{}, nil)
		data := testJPEG(t, 400, 300, 4)
		const n = 8
		results := make([]MediaResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = h.UploadMedia(ctx, meta(authorA), UploadMedia{Reader: bytes.NewReader(data)})
			}()
		}
		wg.Wait()
		changed := 0
		for i := range results {
			if errs[i] != nil {
				t.Fatalf("upload %d: %v", i, errs[i])
			}
			if results[i].ID != results[0].ID || results[i].Hash != results[0].Hash {
				t.Fatalf("upload %d returned %s, upload 0 %s", i, results[i].ID, results[0].ID)
			}
			if results[i].Changed {
				changed++
			}
		}
		if changed != 1 {
			t.Fatalf("%d uploads report a change, want 1", changed)
		}
		if evs := eventsOfType(t, store, domain.EventMediaUploaded); len(evs) != 1 {
			t.Fatalf("%d MediaUploaded events, want 1", len(evs))
		}
		files := blobFiles(t, dir)
		if len(files) != 1+len(results[0].Renditions) {
			t.Fatalf("blob files = %v", files)
		}
		for _, f := range files {
			if strings.Contains(filepath.Base(f), ".tmp") {
				t.Fatalf("temporary file left: %s", f)
			}
		}
	})
}

func TestDeleteMediaInUse(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		u := &usage{n: map[string]int{}}
		h, _ := newMediaHandler(t, store, media.Limits{}, u)
		res, err := h.UploadMedia(ctx, meta(authorA), UploadMedia{Reader: bytes.NewReader(testJPEG(t, 100, 100, 5))})
		if err != nil {
			t.Fatal(err)
		}
		u.n[res.ID] = 2
		_, err = h.DeleteMedia(ctx, meta(editor), MediaRef{MediaID: res.ID})
		if de := wantCode(t, err, domain.KindConflict, "media_in_use"); de.Detail["published_posts"] != 2 {
			t.Fatalf("detail = %v", de.Detail)
		}
		if recs := rawEvents(t, store, domain.MediaStreamPrefix+res.ID); len(recs) != 1 {
			t.Fatalf("refused delete appended: %d events", len(recs))
		}
		u.n[res.ID] = 0
		if _, err := h.DeleteMedia(ctx, meta(editor), MediaRef{MediaID: res.ID}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSetFeatureImageAndAvatar(t *testing.T) {
	forEachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx := context.Background()
		h, dir := newMediaHandler(t, store, media.Limits{}, nil)
		img, err := h.UploadMedia(ctx, meta(authorA), UploadMedia{Alt: "cover", Reader: bytes.NewReader(testJPEG(t, 300, 200, 6))})
		if err != nil {
			t.Fatal(err)
		}
		post := must(t)(h.DraftPost(ctx, meta(authorA), DraftPost{Title: "With image", Body: "b"}))

		res, err := h.SetFeatureImage(ctx, meta(authorA), SetFeatureImage{PostID: post.ID, ExpectedVersion: post.Version, MediaID: img.ID})
		if err != nil || !res.Changed || res.Version != 2 {
			t.Fatalf("set feature image = %+v, %v", res, err)
		}
		p, err := h.LoadPost(ctx, post.ID)
		if err != nil || p.FeatureImage != (domain.FeatureImage{MediaID: img.ID, Hash: img.Hash, Alt: "cover"}) {
			t.Fatalf("post feature image = %+v, %v", p.FeatureImage, err)
		}
		_, err = h.SetFeatureImage(ctx, meta(authorB), SetFeatureImage{PostID: post.ID, MediaID: img.ID, Alt: "x"})
		wantCode(t, err, domain.KindForbidden, "not_owner")
		_, err = h.SetFeatureImage(ctx, meta(authorA), SetFeatureImage{PostID: post.ID, MediaID: "0190a000-0000-7000-8000-000000000999"})
		wantCode(t, err, domain.KindNotFound, "media_not_found")
		_, err = h.SetFeatureImage(ctx, meta(authorA), SetFeatureImage{PostID: post.ID, ExpectedVersion: 1, MediaID: img.ID, Alt: "y"})
		wantCode(t, err, domain.KindConflict, "version_conflict")
		cleared, err := h.SetFeatureImage(ctx, meta(editor), SetFeatureImage{PostID: post.ID, ExpectedVersion: 2})
		if err != nil || cleared.Version != 3 {
			t.Fatalf("clear = %+v, %v", cleared, err)
		}

		// Avatars: readers may set their own; renditions at most 480×480.
		_, admin := register(t, h, "root")
		_, rd := register(t, h, "reada")
		before := len(blobFiles(t, dir))
		av, err := h.SetAvatar(ctx, meta(rd.Actor()), rd.ID, bytes.NewReader(testJPEG(t, 600, 500, 7)))
		if err != nil || !av.Changed || !av.Media.Changed {
			t.Fatalf("set avatar = %+v, %v", av, err)
		}
		for _, r := range av.Media.Renditions {
			if r.Width > 480 || r.Height > 480 {
				t.Fatalf("avatar rendition %+v", r)
			}
		}
		u, err := h.LoadUser(ctx, rd.ID)
		if err != nil || u.Avatar != (domain.Avatar{MediaID: av.Media.ID, Hash: av.Media.Hash}) {
			t.Fatalf("user avatar = %+v, %v", u.Avatar, err)
		}
		// Someone else's account: refused before anything is stored.
		mid := len(blobFiles(t, dir))
		_, err = h.SetAvatar(ctx, meta(authorB), admin.ID, bytes.NewReader(testJPEG(t, 50, 50, 8)))
		wantCode(t, err, domain.KindForbidden, "not_owner")
		if got := len(blobFiles(t, dir)); got != mid || mid <= before {
			t.Fatalf("blob files: before %d, after avatar %d, after refusal %d", before, mid, got)
		}
	})
}
