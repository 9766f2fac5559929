package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is an opened blob. *os.File implements it.
type File interface {
	io.Reader
	io.Seeker
	io.Closer
	Stat() (fs.FileInfo, error)
}

// BlobStore stores media blobs content-addressed: a blob is named by the
// SHA-256 of the uploaded file and a rendition name, never by anything the
// client sent. Implementations must make Put atomic (a reader sees either no
// blob or the whole blob) and idempotent (the same key always holds the same
// bytes, so a second Put of an existing key may keep the first).
type BlobStore interface {
	// Put stores the bytes of r as (hash, rendition).
	Put(ctx context.Context, hash, rendition string, r io.Reader) error
	// Open opens (hash, rendition); a missing blob is an error matching
	// fs.ErrNotExist.
	Open(ctx context.Context, hash, rendition string) (File, error)
	// Exists reports whether (hash, rendition) is stored.
	Exists(ctx context.Context, hash, rendition string) (bool, error)
}

// DefaultDir is where FSStore keeps blobs when CMS_MEDIA_DIR is not set.
const DefaultDir = "./data/media"

// FSStore is a BlobStore in a local directory: blob (hash, rendition) is the
// file <dir>/<hash[0:2]>/<hash>/<rendition>. Writes go to a temporary file
// in the same directory which is synced and renamed into place.
type FSStore struct {
	dir string
}

var _ BlobStore = (*FSStore)(nil)

// NewFSStore returns an FSStore rooted at dir, creating it if needed.
func NewFSStore(dir string) (*FSStore, error) {
	if dir == "" {
		return nil, errors.New("new media store: directory is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("new media store: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("new media store: %w", err)
	}
	return &FSStore{dir: abs}, nil
}

// Dir returns the store's root directory.
func (s *FSStore) Dir() string { return s.dir }

func (s *FSStore) path(hash, rendition string) (string, error) {
	if err := checkKey(hash, rendition); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, hash[:2], hash, rendition), nil
}

// Put implements BlobStore. An existing blob is kept.
func (s *FSStore) Put(ctx context.Context, hash, rendition string, r io.Reader) (err error) {
	p, err := s.path(hash, rendition)
	if err != nil {
		return fmt.Errorf("put media blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put media blob %s/%s: %w", hash, rendition, err)
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("put media blob %s/%s: %w", hash, rendition, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+rendition+"-*")
	if err != nil {
		return fmt.Errorf("put media blob %s/%s: %w", hash, rendition, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, r); err != nil {
		return fmt.Errorf("put media blob %s/%s: %w", hash, rendition, err)
	}
	if err = tmp.Chmod(0o640); err != nil {
		return fmt.Errorf("put media blob %s/%s: %w", hash, rendition, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("put media blob %s/%s: %w", hash, rendition, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("put media blob %s/%s: %w", hash, rendition, err)
	}
	if err = os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("put media blob %s/%s: %w", hash, rendition, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync media dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync media dir: %w", err)
	}
	return nil
}

// Open implements BlobStore.
func (s *FSStore) Open(ctx context.Context, hash, rendition string) (File, error) {
	p, err := s.path(hash, rendition)
	if err != nil {
		return nil, fmt.Errorf("open media blob: %w: %w", err, fs.ErrNotExist)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open media blob %s/%s: %w", hash, rendition, err)
	}
	return f, nil
}

// Exists implements BlobStore.
func (s *FSStore) Exists(ctx context.Context, hash, rendition string) (bool, error) {
	p, err := s.path(hash, rendition)
	if err != nil {
		return false, fmt.Errorf("stat media blob: %w", err)
	}
	_, err = os.Stat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("stat media blob %s/%s: %w", hash, rendition, err)
}
