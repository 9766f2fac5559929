package media

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestFSStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := NewFSStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("0f", 32)
	if ok, err := s.Exists(ctx, hash, "thumb"); ok || err != nil {
		t.Fatalf("exists before put: %v %v", ok, err)
	}
	// Concurrent puts of the same blob: one file, whole content, no temp files.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Put(ctx, hash, "thumb", strings.NewReader("content")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	entries, err := os.ReadDir(filepath.Join(dir, hash[:2], hash))
	if err != nil || len(entries) != 1 || entries[0].Name() != "thumb" {
		t.Fatalf("entries = %v, %v", entries, err)
	}
	f, err := s.Open(ctx, hash, "thumb")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "content" {
		t.Fatalf("content = %q", b)
	}
	bad := []struct{ hash, rendition string }{
		{"../../etc/passwd", "thumb"}, {hash, "../x"}, {hash, ""}, {strings.ToUpper(hash), "thumb"}, {hash, "a/b"},
	}
	for _, k := range bad {
		if err := s.Put(ctx, k.hash, k.rendition, strings.NewReader("x")); err == nil {
			t.Errorf("put %q/%q accepted", k.hash, k.rendition)
		}
		if _, err := s.Open(ctx, k.hash, k.rendition); err == nil {
			t.Errorf("open %q/%q accepted", k.hash, k.rendition)
		}
	}
	// A failing reader leaves nothing behind.
	if err := s.Put(ctx, hash, "w320", io.MultiReader(strings.NewReader("part"), errReader{})); err == nil {
		t.Fatal("put from a failing reader succeeded")
	}
	entries, _ = os.ReadDir(filepath.Join(dir, hash[:2], hash))
	if len(entries) != 1 {
		t.Fatalf("failed put left %v", entries)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestServeRendition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := NewFSStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := newProcessor(t, Limits{})
	res, err := p.ProcessBytes(ctx, withExif(t, jpegBytes(t, halves(800, 600)), 1), LibraryProfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Renditions {
		if err := s.Put(ctx, res.Hash, r.Name, bytes.NewReader(r.Data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, res.Hash, RenditionOriginal, bytes.NewReader(res.Original)); err != nil {
		t.Fatal(err)
	}
	thumb := res.Renditions[0]
	serve := func(rendition, ext string, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/media/x", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		_ = ServeRendition(w, req, s, res.Hash, rendition, ext)
		return w
	}
	tests := []struct {
		name      string
		rendition string
		ext       string
		hdr       map[string]string
		status    int
		body      []byte
	}{
		{"full", thumb.Name, "jpg", nil, http.StatusOK, thumb.Data},
		{"any ext", thumb.Name, "", nil, http.StatusOK, thumb.Data},
		{"range", thumb.Name, "jpg", map[string]string{"Range": "bytes=0-9"}, http.StatusPartialContent, thumb.Data[:10]},
		{"etag match", thumb.Name, "jpg", map[string]string{"If-None-Match": `"` + res.Hash + `-thumb"`}, http.StatusNotModified, nil},
		{"wrong ext", thumb.Name, "png", nil, http.StatusNotFound, nil},
		{"original never served", RenditionOriginal, "jpg", nil, http.StatusNotFound, nil},
		{"unknown rendition", "w9999", "jpg", nil, http.StatusNotFound, nil},
		{"traversal", "../original", "jpg", nil, http.StatusNotFound, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(tt.rendition, tt.ext, tt.hdr)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if tt.body != nil && !bytes.Equal(w.Body.Bytes(), tt.body) {
				t.Fatalf("body differs (%d bytes)", w.Body.Len())
			}
			if tt.status >= 300 && tt.status != http.StatusNotModified {
				return
			}
			h := w.Header()
			if h.Get("ETag") != `"`+res.Hash+`-thumb"` || h.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
				h.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("headers = %v", h)
			}
			if tt.status == http.StatusOK && h.Get("Content-Type") != TypeJPEG {
				t.Fatalf("content type = %q", h.Get("Content-Type"))
			}
		})
	}
}
