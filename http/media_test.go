package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/media"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/projections"
)

// testMediaMaxBytes is the upload limit of media test servers.
const testMediaMaxBytes = 512 << 10

// withMedia gives the server media commands over a fresh blob store (and
// runs the media projection when projections.All does not include it yet).
func withMedia(t testing.TB) envOption {
	return func(cfg *Config) {
		t.Helper()
		blobs, err := media.NewFSStore(t.TempDir())
		if err != nil {
			t.Fatalf("blob store: %v", err)
		}
		cmds, err := commands.New(commands.Config{Store: cfg.Store, Hasher: commands.NewArgon2idHasher(commands.TestArgon2Params()),
			Media: commands.MediaConfig{Blobs: blobs, Limits: media.Limits{MaxBytes: testMediaMaxBytes}, Usage: postgres.NewReader(cfg.Pool)}})
		if err != nil {
			t.Fatalf("commands: %v", err)
		}
		cfg.Commands, cfg.Blobs, cfg.MediaMaxBytes = cmds, blobs, testMediaMaxBytes
		if slices.ContainsFunc(projections.All(), func(p projections.Projection) bool { return p.Name() == projections.MediaName }) {
			return
		}
		rt, err := projections.NewRuntime(projections.Config{Pool: cfg.Pool, Store: cfg.Store, Logger: cfg.Logger,
			Projections: []projections.Projection{projections.NewMedia()}, BatchTimeout: 10 * time.Millisecond})
		if err != nil {
			t.Fatalf("media runtime: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = rt.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); wg.Wait() })
	}
}

// testImage draws a w×h gradient (seed tints it, so every seed's bytes
// differ) with noise of amplitude noise (0: none; noise makes files large).
func testImage(w, h int, seed uint64, noise int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, seed+1))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var n uint8
			if noise > 0 {
				n = uint8(r.IntN(noise))
			}
			m.SetRGBA(x, y, color.RGBA{R: uint8(x*255/w) ^ n, G: uint8(y*255/h) ^ n, B: uint8(seed) + n, A: 255})
		}
	}
	return m
}

func pngBytes(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	return noisyPNG(t, w, h, seed, 0)
}

func noisyPNG(t testing.TB, w, h int, seed uint64, noise int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, testImage(w, h, seed, noise)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(w, h, seed, 0), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// multipartBody builds a multipart/form-data body with a file part (a
// misleading client name and type: the server must ignore them) and fields.
func multipartBody(t testing.TB, file []byte, fields map[string]string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="../../etc/picture.png"`)
		h.Set("Content-Type", "image/png")
		p, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(file); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.Bytes()
}

// mediaJSON is the media DTO as tests read it.
type mediaJSON struct {
	ID       string `json:"id"`
	Hash     string `json:"hash"`
	Type     string `json:"type"`
	Size     int64  `json:"size"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Alt      string `json:"alt"`
	Version  uint64 `json:"version"`
	Deleted  bool   `json:"deleted"`
	Position uint64 `json:"position"`
	Uploader struct {
		ID, Username string
	} `json:"uploader"`
	Renditions []struct {
		Name          string `json:"name"`
		Width, Height int
		Type, URL     string
	} `json:"renditions"`
	Srcset string `json:"srcset"`
}

func (e *testEnv) upload(a account, file []byte, alt string) (resp, mediaJSON) {
	e.t.Helper()
	fields := map[string]string{}
	if alt != "" {
		fields["alt"] = alt
	}
	ct, body := multipartBody(e.t, file, fields)
	r := e.do(req{Method: "POST", Path: "/api/v1/media", Token: a.Access, Body: body, ContentType: ct})
	var m mediaJSON
	if r.Status < 300 {
		r.json(e.t, &m)
	}
	return r, m
}

func (e *testEnv) mustUpload(a account, file []byte, alt string) mediaJSON {
	e.t.Helper()
	r, m := e.upload(a, file, alt)
	if r.Status != http.StatusCreated {
		e.t.Fatalf("upload: status %d: %s", r.Status, r.Body)
	}
	return m
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestMediaUpload(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withMedia(t))
	tm := e.team()
	pngFile := pngBytes(t, 800, 600, 1)

	r, m := e.upload(tm.Author, pngFile, "  A gradient  ")
	if r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	if !hexHash.MatchString(m.Hash) || m.Type != media.TypePNG || m.Width != 800 || m.Height != 600 || m.Alt != "A gradient" ||
		m.Size != int64(len(pngFile)) || m.Version != 1 || m.Uploader.ID != tm.Author.ID || m.Uploader.Username != "author" || m.Position == 0 {
		t.Fatalf("upload result: %+v", m)
	}
	if got := r.Header.Get("Location"); got != "/api/v1/media/"+m.ID {
		t.Errorf("Location %q", got)
	}
	if r.Header.Get("ETag") != `"1"` || r.Header.Get("X-Event-Position") != fmt.Sprint(m.Position) {
		t.Errorf("ETag %q, X-Event-Position %q", r.Header.Get("ETag"), r.Header.Get("X-Event-Position"))
	}
	names := map[string]bool{}
	for _, rd := range m.Renditions {
		names[rd.Name] = true
		if rd.URL != "/media/"+m.Hash+"/"+rd.Name+".png" || rd.Type != media.TypePNG {
			t.Errorf("rendition %+v", rd)
		}
	}
	for _, n := range []string{"thumb", "w320", "w640"} {
		if !names[n] {
			t.Errorf("rendition %s missing: %+v", n, m.Renditions)
		}
	}
	if names["original"] {
		t.Errorf("unexpected renditions: %+v", m.Renditions)
	}
	// w1280 of an 800 px wide image is made at its width.
	wantSet := fmt.Sprintf("/media/%[1]s/w320.png 320w, /media/%[1]s/w640.png 640w, /media/%[1]s/w1280.png 800w", m.Hash)
	if m.Srcset != wantSet {
		t.Errorf("srcset %q, want %q", m.Srcset, wantSet)
	}

	// The same bytes again, by someone else: 200 with the same item, no event.
	head := e.head()
	r2, again := e.upload(tm.Editor, pngFile, "other alt")
	if r2.Status != http.StatusOK || again.ID != m.ID || again.Hash != m.Hash || again.Uploader.ID != tm.Author.ID {
		t.Fatalf("duplicate upload: %d %s", r2.Status, r2.Body)
	}
	if e.head() != head || r2.Header.Get("X-Event-Position") != "" {
		t.Errorf("a duplicate upload recorded events")
	}

	jpg := e.mustUpload(tm.Editor, jpegBytes(t, 1600, 900, 2), "")
	if jpg.ID == m.ID || jpg.Type != media.TypeJPEG || jpg.Width != 1600 || !strings.Contains(jpg.Srcset, "/w1280.jpg 1280w") {
		t.Fatalf("jpeg upload: %+v", jpg)
	}
}

func TestMediaUploadRefusals(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withMedia(t))
	tm := e.team()
	html := []byte("<!doctype html><html><body><script>alert(1)</script></body></html>")
	huge := noisyPNG(t, 700, 700, 3, 256) // noise: well over 512 KiB
	if len(huge) <= testMediaMaxBytes {
		t.Fatalf("test image is only %d bytes", len(huge))
	}
	ct, okBody := multipartBody(t, pngBytes(t, 64, 64, 4), nil)
	head := e.head()
	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"html named .png", func() req {
			ct, b := multipartBody(t, html, nil)
			return req{Method: "POST", Path: "/api/v1/media", Token: tm.Author.Access, Body: b, ContentType: ct}
		}(), 415, "unsupported_media_type"},
		{"oversized", func() req {
			ct, b := multipartBody(t, huge, nil)
			return req{Method: "POST", Path: "/api/v1/media", Token: tm.Author.Access, Body: b, ContentType: ct}
		}(), 413, "media_too_large"},
		{"oversized body", req{Method: "POST", Path: "/api/v1/media", Token: tm.Author.Access,
			Body: bytes.Repeat([]byte("x"), testMediaMaxBytes+int(multipartOverhead)+1), ContentType: ct}, 413, "media_too_large"},
		{"not multipart", req{Method: "POST", Path: "/api/v1/media", Token: tm.Author.Access, Body: map[string]any{"file": "x"}}, 415, "unsupported_media_type"},
		{"no file", func() req {
			ct, b := multipartBody(t, nil, map[string]string{"alt": "nothing"})
			return req{Method: "POST", Path: "/api/v1/media", Token: tm.Author.Access, Body: b, ContentType: ct}
		}(), 422, "empty_upload"},
		{"corrupt", func() req {
			ct, b := multipartBody(t, pngBytes(t, 64, 64, 5)[:80], nil)
			return req{Method: "POST", Path: "/api/v1/media", Token: tm.Author.Access, Body: b, ContentType: ct}
		}(), 422, "corrupt_image"},
		{"reader", req{Method: "POST", Path: "/api/v1/media", Token: tm.Reader.Access, Body: okBody, ContentType: ct}, 403, "forbidden_role"},
		{"auditor", req{Method: "POST", Path: "/api/v1/media", Token: tm.Auditor.Access, Body: okBody, ContentType: ct}, 403, "forbidden_role"},
		{"anonymous", req{Method: "POST", Path: "/api/v1/media", Body: okBody, ContentType: ct}, 401, "unauthenticated"},
	}
	for _, c := range cases {
		r := e.do(c.r)
		if r.Status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.Status, c.status, r.Body)
			continue
		}
		if p := r.problem(t); p.Code != c.code {
			t.Errorf("%s: code %q, want %q", c.name, p.Code, c.code)
		}
	}
	if got := e.head(); got != head {
		t.Errorf("refused uploads recorded events: head %d → %d", head, got)
	}
}

func TestMediaLibrary(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withMedia(t))
	tm := e.team()
	a := e.mustUpload(tm.Author, pngBytes(t, 400, 300, 10), "first")
	b := e.mustUpload(tm.Editor, jpegBytes(t, 500, 400, 11), "second")
	c := e.mustUpload(tm.Author, jpegBytes(t, 300, 300, 12), "third")
	wait := map[string]string{"X-Min-Position": fmt.Sprint(c.Position)}

	ids := func(path string, tok string) []string {
		t.Helper()
		var page struct {
			Items      []mediaJSON `json:"items"`
			NextCursor *string     `json:"next_cursor"`
		}
		e.must(200, req{Method: "GET", Path: path, Token: tok, Header: wait}).json(t, &page)
		var out []string
		for _, m := range page.Items {
			out = append(out, m.ID)
		}
		return out
	}
	if got := ids("/api/v1/media", tm.Author.Access); !slices.Equal(got, []string{c.ID, b.ID, a.ID}) {
		t.Errorf("library %v, want %v", got, []string{c.ID, b.ID, a.ID})
	}
	if got := ids("/api/v1/media?uploader="+tm.Author.ID, tm.Editor.Access); !slices.Equal(got, []string{c.ID, a.ID}) {
		t.Errorf("by uploader %v", got)
	}
	if got := ids("/api/v1/media?type=image/jpeg", tm.Auditor.Access); !slices.Equal(got, []string{c.ID, b.ID}) {
		t.Errorf("by type %v", got)
	}
	// Paging.
	var p1 struct {
		Items      []mediaJSON `json:"items"`
		NextCursor *string     `json:"next_cursor"`
	}
	e.must(200, req{Method: "GET", Path: "/api/v1/media?limit=2", Token: tm.Admin.Access, Header: wait}).json(t, &p1)
	if len(p1.Items) != 2 || p1.NextCursor == nil {
		t.Fatalf("page 1: %+v", p1)
	}
	if got := ids("/api/v1/media?limit=2&cursor="+*p1.NextCursor, tm.Admin.Access); !slices.Equal(got, []string{a.ID}) {
		t.Errorf("page 2 %v", got)
	}

	r := e.must(200, req{Method: "GET", Path: "/api/v1/media/" + b.ID, Token: tm.Author.Access, Header: wait})
	var got mediaJSON
	r.json(t, &got)
	if got.ID != b.ID || got.Alt != "second" || got.Uploader.Username != "editor" || got.Srcset == "" || len(got.Renditions) == 0 || r.Header.Get("ETag") != `"1"` {
		t.Errorf("get: %s (ETag %s)", r.Body, r.Header.Get("ETag"))
	}

	for _, c := range []struct {
		r      req
		status int
	}{
		{req{Method: "GET", Path: "/api/v1/media", Token: tm.Reader.Access}, 403},
		{req{Method: "GET", Path: "/api/v1/media"}, 401},
		{req{Method: "GET", Path: "/api/v1/media/" + b.ID, Token: tm.Reader.Access}, 403},
		{req{Method: "GET", Path: "/api/v1/media/not-a-uuid", Token: tm.Author.Access}, 404},
		{req{Method: "GET", Path: "/api/v1/media/00000000-0000-4000-8000-000000000000", Token: tm.Author.Access, Header: wait}, 404},
		{req{Method: "GET", Path: "/api/v1/media?uploader=bob", Token: tm.Author.Access}, 422},
		{req{Method: "GET", Path: "/api/v1/media?cursor=garbage", Token: tm.Author.Access}, 422},
	} {
		if r := e.do(c.r); r.Status != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.r.Method, c.r.Path, r.Status, c.status, r.Body)
		}
	}
}

func TestMediaAltText(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withMedia(t))
	tm := e.team()
	other := e.setRole(tm.Admin, e.register("other"), domain.RoleAuthor)
	m := e.mustUpload(tm.Author, pngBytes(t, 100, 100, 20), "old")
	path := "/api/v1/media/" + m.ID
	body := map[string]any{"alt": "A better description"}

	if p := e.must(428, req{Method: "PATCH", Path: path, Token: tm.Author.Access, Body: body}).problem(t); p.Code != "precondition_required" {
		t.Errorf("missing If-Match: %+v", p)
	}
	if p := e.must(409, req{Method: "PATCH", Path: path, Token: tm.Author.Access, Body: body, Header: ifMatchHeader(7)}).problem(t); p.CurrentVersion == nil || *p.CurrentVersion != 1 {
		t.Errorf("stale If-Match: %+v", p)
	}
	e.must(403, req{Method: "PATCH", Path: path, Token: other.Access, Body: body, Header: ifMatchHeader(1)})
	e.must(403, req{Method: "PATCH", Path: path, Token: tm.Reader.Access, Body: body, Header: ifMatchHeader(1)})
	e.must(422, req{Method: "PATCH", Path: path, Token: tm.Author.Access, Body: map[string]any{"alt": strings.Repeat("x", 1001)}, Header: ifMatchHeader(1)})
	e.must(404, req{Method: "PATCH", Path: "/api/v1/media/00000000-0000-4000-8000-000000000000", Token: tm.Author.Access, Body: body, Header: ifMatchHeader(1)})

	r := e.must(200, req{Method: "PATCH", Path: path, Token: tm.Author.Access, Body: body, Header: ifMatchHeader(1)})
	var got mediaJSON
	r.json(t, &got)
	if got.Alt != "A better description" || got.Version != 2 || r.Header.Get("ETag") != `"2"` || r.Header.Get("X-Event-Position") == "" {
		t.Fatalf("patch: %s %v", r.Body, r.Header)
	}
	// An editor may change anyone's alt text.
	r = e.must(200, req{Method: "PATCH", Path: path, Token: tm.Editor.Access, Body: map[string]any{"alt": "Edited"}, Header: ifMatchHeader(2)})
	r.json(t, &got)
	e.must(200, req{Method: "GET", Path: path, Token: tm.Author.Access, Header: map[string]string{"X-Min-Position": fmt.Sprint(got.Position)}}).json(t, &got)
	if got.Alt != "Edited" || got.Version != 3 {
		t.Errorf("read model after edits: %+v", got)
	}
}

func TestMediaFeatureImageAndDelete(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withMedia(t))
	tm := e.team()
	m := e.mustUpload(tm.Author, jpegBytes(t, 1000, 500, 30), "Sunset")
	p := e.draft(tm.Author, "With a picture", "Body")
	path := "/api/v1/posts/" + p.ID + "/feature-image"

	e.must(428, req{Method: "PUT", Path: path, Token: tm.Author.Access, Body: map[string]any{"media_id": m.ID}})
	e.must(404, req{Method: "PUT", Path: path, Token: tm.Author.Access, Body: map[string]any{"media_id": "00000000-0000-4000-8000-000000000000"}, Header: ifMatchHeader(p.Version)})
	e.must(422, req{Method: "PUT", Path: path, Token: tm.Author.Access, Body: map[string]any{"media_id": "nope"}, Header: ifMatchHeader(p.Version)})
	e.must(403, req{Method: "PUT", Path: path, Token: tm.Reader.Access, Body: map[string]any{"media_id": m.ID}, Header: ifMatchHeader(p.Version)})
	r := e.must(200, req{Method: "PUT", Path: path, Token: tm.Author.Access, Body: map[string]any{"media_id": m.ID, "alt": "A red sunset"}, Header: ifMatchHeader(p.Version)})
	var fi result
	r.json(t, &fi)
	if fi.ID != p.ID || fi.Version != p.Version+1 || r.Header.Get("ETag") != fmt.Sprintf(`"%d"`, fi.Version) || r.Header.Get("X-Event-Position") != fmt.Sprint(fi.Position) {
		t.Fatalf("feature image: %s %v", r.Body, r.Header)
	}
	var pub result
	e.must(200, req{Method: "POST", Path: "/api/v1/posts/" + p.ID + "/publish", Token: tm.Editor.Access, Header: ifMatchHeader(fi.Version)}).json(t, &pub)

	// The post JSON carries the feature image, in lists too.
	type featureImage struct {
		MediaID       string `json:"media_id"`
		Alt, URL      string
		Srcset        string
		Width, Height int
	}
	var post struct {
		FeatureImage *featureImage `json:"feature_image"`
	}
	posWait := map[string]string{"X-Min-Position": fmt.Sprint(pub.Position)}
	e.must(200, req{Method: "GET", Path: "/api/v1/posts/" + p.Slug, Header: posWait}).json(t, &post)
	wantFI := featureImage{MediaID: m.ID, Alt: "A red sunset", URL: "/media/" + m.Hash + "/w640.jpg",
		Srcset: fmt.Sprintf("/media/%[1]s/w320.jpg 320w, /media/%[1]s/w640.jpg 640w, /media/%[1]s/w1280.jpg 1000w", m.Hash), Width: 1000, Height: 500}
	if post.FeatureImage == nil || *post.FeatureImage != wantFI {
		t.Errorf("post feature image %+v, want %+v", post.FeatureImage, wantFI)
	}
	var list struct {
		Items []struct {
			ID           string        `json:"id"`
			FeatureImage *featureImage `json:"feature_image"`
		} `json:"items"`
	}
	e.must(200, req{Method: "GET", Path: "/api/v1/posts", Header: posWait}).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].FeatureImage == nil || *list.Items[0].FeatureImage != wantFI {
		t.Errorf("listed post: %+v", list.Items)
	}

	// The media projection has seen the publication: deleting is refused.
	mpath := "/api/v1/media/" + m.ID
	e.must(200, req{Method: "GET", Path: mpath, Token: tm.Editor.Access, Header: map[string]string{"X-Min-Position": fmt.Sprint(pub.Position)}})
	head := e.head()
	if pr := e.must(409, req{Method: "DELETE", Path: mpath, Token: tm.Editor.Access}).problem(t); pr.Code != "media_in_use" {
		t.Errorf("delete while published: %+v", pr)
	}
	e.must(403, req{Method: "DELETE", Path: mpath, Token: tm.Author.Access})
	if e.head() != head {
		t.Errorf("refused deletes recorded events")
	}

	var unp result
	e.must(200, req{Method: "POST", Path: "/api/v1/posts/" + p.ID + "/unpublish", Token: tm.Editor.Access, Header: ifMatchHeader(pub.Version)}).json(t, &unp)
	e.must(200, req{Method: "GET", Path: mpath, Token: tm.Editor.Access, Header: map[string]string{"X-Min-Position": fmt.Sprint(unp.Position)}})
	e.must(409, req{Method: "DELETE", Path: mpath, Token: tm.Editor.Access, Header: ifMatchHeader(9)})
	r = e.must(200, req{Method: "DELETE", Path: mpath, Token: tm.Editor.Access, Header: ifMatchHeader(1)})
	var del mediaJSON
	r.json(t, &del)
	if !del.Deleted || del.Version != 2 {
		t.Errorf("delete: %s", r.Body)
	}
	var got mediaJSON
	e.must(200, req{Method: "GET", Path: mpath, Token: tm.Editor.Access, Header: map[string]string{"X-Min-Position": fmt.Sprint(del.Position)}}).json(t, &got)
	if !got.Deleted {
		t.Errorf("read model after delete: %+v", got)
	}
	e.must(409, req{Method: "DELETE", Path: mpath, Token: tm.Editor.Access})
	// A deleted item cannot become a feature image.
	e.must(404, req{Method: "PUT", Path: path, Token: tm.Author.Access, Body: map[string]any{"media_id": m.ID}, Header: ifMatchHeader(unp.Version)})
}

func TestMediaServe(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withMedia(t))
	tm := e.team()
	m := e.mustUpload(tm.Author, jpegBytes(t, 1000, 600, 40), "")
	url := "/media/" + m.Hash + "/w320.jpg"

	r := e.must(200, req{Method: "GET", Path: url})
	img, err := jpeg.Decode(bytes.NewReader(r.Body))
	if err != nil || img.Bounds().Dx() != 320 {
		t.Fatalf("w320: %v %v", err, img)
	}
	h := r.Header
	if h.Get("Content-Type") != media.TypeJPEG || h.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(h.Get("Cache-Control"), "immutable") || !strings.Contains(h.Get("Cache-Control"), "max-age=31536000") ||
		h.Get("ETag") == "" || h.Get("Accept-Ranges") != "bytes" {
		t.Errorf("headers: %v", h)
	}
	e.must(304, req{Method: "GET", Path: url, Header: map[string]string{"If-None-Match": h.Get("ETag")}})
	rr := e.must(206, req{Method: "GET", Path: url, Header: map[string]string{"Range": "bytes=0-9"}})
	if len(rr.Body) != 10 || !bytes.Equal(rr.Body, r.Body[:10]) || rr.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-9/%d", len(r.Body)) {
		t.Errorf("range: %d bytes, Content-Range %q", len(rr.Body), rr.Header.Get("Content-Range"))
	}
	e.must(200, req{Method: "HEAD", Path: url})
	e.must(200, req{Method: "GET", Path: "/media/" + m.Hash + "/thumb.jpeg"})

	for _, p := range []string{
		"/media/" + m.Hash + "/original.jpg",
		"/media/" + m.Hash + "/original",
		"/media/" + m.Hash + "/w320.png",
		"/media/" + m.Hash + "/w320",
		"/media/" + m.Hash + "/w9999.jpg",
		"/media/" + m.Hash + "/W320.jpg",
		"/media/" + strings.ToUpper(m.Hash) + "/w320.jpg",
		"/media/" + strings.Repeat("0", 64) + "/w320.jpg",
		"/media/" + m.Hash[:63] + "/w320.jpg",
		"/media/" + m.Hash + "/..%2foriginal.jpg",
		"/media/" + m.Hash + "/%2e%2e%2f%2e%2e%2fetc%2fpasswd.jpg",
		"/media/../../etc/passwd",
		"/media/%2e%2e/%2e%2e/etc/passwd",
		"/media/" + m.Hash[:2] + "/" + m.Hash + "/w320.jpg",
		"/media/..%2f..%2f" + m.Hash + "/w320.jpg",
		"/media/" + m.Hash + "/.tmp-w320.jpg",
	} {
		r := e.do(req{Method: "GET", Path: p})
		if r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.Status)
		}
		if bytes.Contains(r.Body, []byte("root:")) || bytes.HasPrefix(r.Body, []byte("\xff\xd8")) {
			t.Errorf("GET %s leaked content", p)
		}
	}
}

func TestMediaAvatar(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withMedia(t))
	tm := e.team()
	ct, body := multipartBody(t, pngBytes(t, 1000, 800, 50), nil)
	r := e.must(200, req{Method: "PUT", Path: "/api/v1/me/avatar", Token: tm.Reader.Access, Body: body, ContentType: ct})
	var res struct {
		User struct {
			ID     string `json:"id"`
			Avatar *struct {
				MediaID string `json:"media_id"`
				URL     string `json:"url"`
				Srcset  string `json:"srcset"`
			} `json:"avatar"`
		} `json:"user"`
		Version  uint64    `json:"version"`
		Position uint64    `json:"position"`
		Media    mediaJSON `json:"media"`
	}
	r.json(t, &res)
	if res.User.ID != tm.Reader.ID || res.User.Avatar == nil || res.User.Avatar.MediaID != res.Media.ID || res.Position == 0 ||
		r.Header.Get("X-Event-Position") != fmt.Sprint(res.Position) {
		t.Fatalf("avatar: %s %v", r.Body, r.Header)
	}
	if len(res.Media.Renditions) == 0 {
		t.Fatalf("no renditions: %s", r.Body)
	}
	for _, rd := range res.Media.Renditions {
		if rd.Width > 480 || rd.Height > 480 {
			t.Errorf("rendition %s is %d×%d", rd.Name, rd.Width, rd.Height)
		}
	}
	if want := "/media/" + res.Media.Hash + "/thumb.png"; res.User.Avatar.URL != want || !strings.Contains(res.User.Avatar.Srcset, "small.png 128w") {
		t.Errorf("avatar %+v, want URL %s", res.User.Avatar, want)
	}
	img := e.must(200, req{Method: "GET", Path: res.User.Avatar.URL})
	cfg, err := png.DecodeConfig(bytes.NewReader(img.Body))
	if err != nil || cfg.Width > 480 || cfg.Height > 480 {
		t.Errorf("served avatar: %v %+v", err, cfg)
	}
	var me struct {
		Avatar *struct{ URL string } `json:"avatar"`
	}
	e.must(200, req{Method: "GET", Path: "/api/v1/me", Token: tm.Reader.Access}).json(t, &me)
	if me.Avatar == nil || me.Avatar.URL != res.User.Avatar.URL {
		t.Errorf("GET /me avatar: %+v", me.Avatar)
	}
	wait := map[string]string{"X-Min-Position": fmt.Sprint(res.Position)}
	var user struct {
		Avatar *struct{ URL, Srcset string } `json:"avatar"`
	}
	e.must(200, req{Method: "GET", Path: "/api/v1/users/" + tm.Reader.ID, Token: tm.Admin.Access, Header: wait}).json(t, &user)
	if user.Avatar == nil || user.Avatar.URL != res.User.Avatar.URL || user.Avatar.Srcset != res.User.Avatar.Srcset {
		t.Errorf("GET /users/{id} avatar: %+v", user.Avatar)
	}
	var users struct {
		Items []struct {
			ID     string                `json:"id"`
			Avatar *struct{ URL string } `json:"avatar"`
		} `json:"items"`
	}
	e.must(200, req{Method: "GET", Path: "/api/v1/users", Token: tm.Admin.Access, Header: wait}).json(t, &users)
	for _, u := range users.Items {
		if (u.ID == tm.Reader.ID) != (u.Avatar != nil) {
			t.Errorf("listed user %s avatar %+v", u.ID, u.Avatar)
		}
	}
	// Refusals.
	e.must(401, req{Method: "PUT", Path: "/api/v1/me/avatar", Body: body, ContentType: ct})
	e.must(403, req{Method: "PUT", Path: "/api/v1/me/avatar", Token: tm.Auditor.Access, Body: body, ContentType: ct})
	e.must(415, req{Method: "PUT", Path: "/api/v1/me/avatar", Token: tm.Reader.Access, Body: map[string]any{"file": "x"}})
	hct, hb := multipartBody(t, []byte("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"), nil)
	e.must(415, req{Method: "PUT", Path: "/api/v1/me/avatar", Token: tm.Reader.Access, Body: hb, ContentType: hct})
}

// TestOpenAPIMediaResponses checks real media responses against the
// OpenAPI document.
func TestOpenAPIMediaResponses(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withMedia(t))
	tm := e.team()
	m := e.mustUpload(tm.Author, jpegBytes(t, 700, 400, 60), "doc")
	p := e.draft(tm.Author, "Documented", "b")
	ct, body := multipartBody(t, jpegBytes(t, 700, 400, 60), nil)
	act, abody := multipartBody(t, pngBytes(t, 200, 200, 61), nil)
	wait := map[string]string{"X-Min-Position": fmt.Sprint(m.Position)}
	checks := []struct {
		docPath string
		r       req
	}{
		{"/api/v1/media", req{Method: "POST", Path: "/api/v1/media", Token: tm.Editor.Access, Body: body, ContentType: ct}},
		{"/api/v1/media", req{Method: "POST", Path: "/api/v1/media", Token: tm.Reader.Access, Body: body, ContentType: ct}},
		{"/api/v1/media", req{Method: "POST", Path: "/api/v1/media", Token: tm.Author.Access, Body: "{}", ContentType: "application/json"}},
		{"/api/v1/media", req{Method: "GET", Path: "/api/v1/media", Token: tm.Author.Access, Header: wait}},
		{"/api/v1/media/{id}", req{Method: "GET", Path: "/api/v1/media/" + m.ID, Token: tm.Author.Access, Header: wait}},
		{"/api/v1/media/{id}", req{Method: "PATCH", Path: "/api/v1/media/" + m.ID, Token: tm.Author.Access, Body: map[string]any{"alt": "x"}}},
		{"/api/v1/media/{id}", req{Method: "PATCH", Path: "/api/v1/media/" + m.ID, Token: tm.Author.Access, Body: map[string]any{"alt": "x"}, Header: ifMatchHeader(1)}},
		{"/api/v1/posts/{id}/feature-image", req{Method: "PUT", Path: "/api/v1/posts/" + p.ID + "/feature-image", Token: tm.Author.Access, Body: map[string]any{"media_id": m.ID}, Header: ifMatchHeader(p.Version)}},
		{"/api/v1/me/avatar", req{Method: "PUT", Path: "/api/v1/me/avatar", Token: tm.Reader.Access, Body: abody, ContentType: act}},
		{"/api/v1/me", req{Method: "GET", Path: "/api/v1/me", Token: tm.Reader.Access}},
		{"/api/v1/media/{id}", req{Method: "DELETE", Path: "/api/v1/media/" + m.ID, Token: tm.Author.Access}},
		{"/api/v1/media/{id}", req{Method: "DELETE", Path: "/api/v1/media/" + m.ID, Token: tm.Admin.Access}},
		{"/api/v1/posts/{id}", req{Method: "GET", Path: "/api/v1/posts/" + p.ID, Token: tm.Author.Access, Header: map[string]string{"X-Min-Position": "0"}}},
		{"/api/v1/posts", req{Method: "GET", Path: "/api/v1/posts", Token: tm.Author.Access}},
		{"/api/v1/users/{id}", req{Method: "GET", Path: "/api/v1/users/" + tm.Reader.ID, Token: tm.Admin.Access}},
		{"/api/v1/users", req{Method: "GET", Path: "/api/v1/users", Token: tm.Admin.Access}},
		{"/media/{hash}/{file}", req{Method: "GET", Path: "/media/" + m.Hash + "/thumb.jpg"}},
		{"/media/{hash}/{file}", req{Method: "GET", Path: "/media/" + m.Hash + "/original.jpg"}},
	}
	checkOpenAPI(t, e, checks)
}

// checkOpenAPI performs each request and checks that its status is
// documented for the operation and its JSON body conforms to the schema.
func checkOpenAPI(t *testing.T, e *testEnv, checks []struct {
	docPath string
	r       req
}) {
	t.Helper()
	doc := OpenAPI()
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	paths := doc["paths"].(map[string]any)
	for _, c := range checks {
		r := e.do(c.r)
		op, _ := paths[c.docPath].(map[string]any)[strings.ToLower(c.r.Method)].(map[string]any)
		if op == nil {
			t.Errorf("%s %s: not documented", c.r.Method, c.docPath)
			continue
		}
		rs, _ := op["responses"].(map[string]any)[fmt.Sprint(r.Status)].(map[string]any)
		if rs == nil {
			t.Errorf("%s %s: status %d not documented (%s)", c.r.Method, c.r.Path, r.Status, r.Body)
			continue
		}
		content, _ := rs["content"].(map[string]any)
		if content == nil {
			if len(r.Body) > 0 {
				t.Errorf("%s %s: undocumented body", c.r.Method, c.r.Path)
			}
			continue
		}
		ct := strings.Split(r.Header.Get("Content-Type"), ";")[0]
		mt, _ := content[ct].(map[string]any)
		if mt == nil {
			t.Errorf("%s %s: content type %q not documented for %d", c.r.Method, c.r.Path, ct, r.Status)
			continue
		}
		if !strings.Contains(ct, "json") {
			continue
		}
		var v any
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Errorf("%s %s: %v", c.r.Method, c.r.Path, err)
			continue
		}
		if err := conform(schemas, mt["schema"].(map[string]any), v, "body"); err != nil {
			t.Errorf("%s %s (%d): %v\n%s", c.r.Method, c.r.Path, r.Status, err, r.Body)
		}
		if r.Status >= 400 && r.Status != http.StatusServiceUnavailable && ct != problemContentType {
			t.Errorf("%s %s: error without problem+json", c.r.Method, c.r.Path)
		}
	}
}
