package web_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// pngBytes returns a small generated PNG.
func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: 160, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upload posts a multipart form with one file.
func (c *client) upload(path, field, filename string, data []byte, fields map[string]string) response {
	c.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if _, ok := fields["_csrf"]; !ok {
		_ = mw.WriteField("_csrf", c.csrf())
	}
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile(field, filename)
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.e.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

func TestMediaLibraryAndAvatar(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	author, reader := f.clients["author"], f.clients["reader"]
	img := pngBytes(t, 640, 400)

	// Readers may not open the library; authors upload to it.
	if r := reader.get("/desk/media"); r.status != http.StatusForbidden {
		t.Errorf("reader opens library: %d", r.status)
	}
	if r := author.upload("/desk/media", "file", "photo.png", img, map[string]string{"_csrf": ""}); r.status != http.StatusForbidden {
		t.Errorf("upload without csrf: %d", r.status)
	}
	r := author.upload("/desk/media", "file", "../../etc/passwd.png", img, map[string]string{"alt": "A gradient"})
	if r.status != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	r = author.follow(r.header.Get("Location"))
	m := regexp.MustCompile(`src="(/media/[0-9a-f]{64}/thumb\.png)" alt="A gradient"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("library lacks the thumbnail: %s", r.body)
	}
	if r := author.get(m[1]); r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
		t.Errorf("thumbnail: %d %s", r.status, r.header.Get("Content-Type"))
	}
	// A file that is not an image is refused with a friendly page.
	r = author.upload("/desk/media", "file", "evil.png", []byte("<html><script>alert(1)</script></html>"), nil)
	if r.status/100 != 4 || !strings.Contains(r.body, "alert-") && !strings.Contains(r.body, "lead") {
		t.Errorf("html upload: %d", r.status)
	}

	// Anyone signed in sets a profile picture.
	r = reader.upload("/profile/avatar", "avatar", "me.png", pngBytes(t, 300, 300), nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("avatar: %d %s", r.status, r.body)
	}
	r = reader.follow(r.header.Get("Location"))
	m = regexp.MustCompile(`<img src="(/media/[0-9a-f]{64}/small\.png)" alt="Your profile picture"`).FindStringSubmatch(r.body)
	if m == nil || !strings.Contains(r.body, "Profile picture updated.") {
		t.Fatalf("profile lacks the avatar: %s", r.body)
	}
	if r := reader.get(m[1]); r.status != http.StatusOK {
		t.Errorf("avatar rendition: %d", r.status)
	}
}
