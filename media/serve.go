package media

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
)

// ServeRendition serves blob (hash, rendition) of store with
// http.ServeContent, so conditional requests (If-None-Match) and Range
// requests work. ext is the file extension of the request path ("jpg",
// "png"; "" to accept any): it must match the stored type. The response
// carries ETag "<hash>-<rendition>", Cache-Control "public,
// max-age=31536000, immutable" (blobs are content-addressed and never
// change), the Content-Type sniffed from the stored bytes,
// X-Content-Type-Options: nosniff and a sandboxing Content-Security-Policy.
//
// The original upload (RenditionOriginal) is never served: it may carry
// EXIF and GPS metadata. Unknown keys get 404, other failures 500; the
// returned error is for logging. Wiring it to a route is one line:
//
//	media.ServeRendition(w, r, store, hash, rendition, ext)
func ServeRendition(w http.ResponseWriter, r *http.Request, store BlobStore, hash, rendition, ext string) error {
	ext = strings.ToLower(strings.TrimPrefix(ext, "."))
	if rendition == RenditionOriginal || !ValidHash(hash) || !validName(rendition) {
		http.NotFound(w, r)
		return fs.ErrNotExist
	}
	f, err := store.Open(r.Context(), hash, rendition)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
		} else {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}
		return err
	}
	defer f.Close()
	var head [512]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return err
	}
	ctype, ok := Sniff(head[:n])
	if !ok || (ext != "" && ExtensionOf(ctype) != ext && !(ext == "jpeg" && ctype == TypeJPEG)) {
		http.NotFound(w, r)
		return fs.ErrNotExist
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return err
	}
	info, err := f.Stat()
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return err
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("ETag", `"`+hash+"-"+rendition+`"`)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	http.ServeContent(w, r, "", info.ModTime(), f)
	return nil
}
