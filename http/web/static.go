package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

//go:embed static
var staticFS embed.FS

// asset is one embedded static file with its content hash.
type asset struct {
	data []byte
	hash string
}

// assetSet holds every static file, hashed once at startup.
type assetSet struct {
	files map[string]asset
}

func newAssetSet() (*assetSet, error) {
	set := &assetSet{files: map[string]asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		set.files[strings.TrimPrefix(p, "static/")] = asset{data: data, hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hash static files: %w", err)
	}
	return set, nil
}

// assetURL returns the cache-busting URL of a static file.
func (ui *UI) assetURL(name string) (string, error) {
	a, ok := ui.assets.files[name]
	if !ok {
		return "", fmt.Errorf("unknown asset %q", name)
	}
	return "/static/" + name + "?v=" + a.hash, nil
}

// static serves embedded files: for ever when the URL names the current
// content hash, otherwise revalidated by ETag.
func (ui *UI) static(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("path"), "/")
	a, ok := ui.assets.files[name]
	if !ok {
		ui.NotFound(c)
		return
	}
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+a.hash+`"`)
	if c.Query("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=0, must-revalidate")
	}
	if strings.HasSuffix(name, ".map") {
		h.Set("Content-Type", "application/json")
	}
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(a.data))
}
