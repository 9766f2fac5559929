package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/media"
)

// MediaConfig configures the media commands (uploads, alt texts, deletes,
// feature images, avatars).
type MediaConfig struct {
	// Blobs stores renditions and originals. Without it every media command
	// fails with KindUnavailable "media_unavailable".
	Blobs media.BlobStore
	// Limits bounds uploads (zero fields: media's defaults of 10 MiB and 40
	// megapixels).
	Limits media.Limits
	// Usage answers whether published posts use a media item as feature
	// image; DeleteMedia refuses with "media_in_use" while any does. It is a
	// read-side check (the posts read model lags the log slightly), so it
	// is best effort by design. Nil skips the check.
	Usage MediaUsage
}

// MediaUsage is the read-side check DeleteMedia consults. Package postgres
// implements it (Reader.PublishedPostsUsing) over the media projection's
// media_post_usage table.
type MediaUsage interface {
	// PublishedPostsUsing counts the published or scheduled posts whose
	// feature image is mediaID.
	PublishedPostsUsing(ctx context.Context, mediaID string) (int, error)
}

// mediaDeps holds what the media commands use.
type mediaDeps struct {
	blobs media.BlobStore
	proc  *media.Processor
	usage MediaUsage
}

func newMediaDeps(c MediaConfig) (*mediaDeps, error) {
	p, err := media.NewProcessor(c.Limits)
	if err != nil {
		return nil, fmt.Errorf("media config: %w", err)
	}
	return &mediaDeps{blobs: c.Blobs, proc: p, usage: c.Usage}, nil
}

// MediaHashStream returns the reservation stream of an upload's SHA-256.
func MediaHashStream(hash string) string { return domain.MediaHashStreamPrefix + hash }

// MediaResult reports the outcome of a media command: the embedded Result
// addresses the media item (ID, Version, Position, Changed) and the other
// fields describe it after the command.
type MediaResult struct {
	Result
	Hash       string
	Type       string
	Size       int64
	Width      int
	Height     int
	Alt        string
	UploaderID string
	Renditions []domain.Rendition
	Deleted    bool
	CreatedAt  time.Time
}

func mediaResult(m *domain.Media) MediaResult {
	return MediaResult{
		Result: Result{ID: m.ID, Version: m.Version},
		Hash:   m.Hash, Type: m.Type, Size: m.Size, Width: m.Width, Height: m.Height,
		Alt: m.Alt, UploaderID: m.UploaderID, Renditions: m.Renditions, Deleted: m.Deleted, CreatedAt: m.CreatedAt,
	}
}

func (h *Handler) mediaReady() error {
	if h.media == nil || h.media.blobs == nil {
		return domain.Errorf(domain.KindUnavailable, "media_unavailable", "media storage is not configured")
	}
	return nil
}

func mediaNotFound(id string) error {
	return domain.Errorf(domain.KindNotFound, "media_not_found", "media %q not found", id)
}

// LoadMedia returns the current state of a media item, read from its
// stream; unknown IDs are KindNotFound "media_not_found". Deleted items are
// returned with Deleted set.
func (h *Handler) LoadMedia(ctx context.Context, mediaID string) (*domain.Media, error) {
	id, ok := parseID(mediaID)
	if !ok {
		return nil, mediaNotFound(mediaID)
	}
	events, exists, err := h.readStream(ctx, domain.MediaStreamPrefix+id, 0)
	if err != nil {
		return nil, err
	}
	if !exists || len(events) == 0 {
		return nil, mediaNotFound(mediaID)
	}
	m := &domain.Media{}
	for _, d := range events {
		m.Apply(d.event, d.occurredAt())
	}
	return m, nil
}

// execMedia loads a media item, checks the expected version (0: not
// checked), lets decide record events and appends them at the loaded
// version. afterAppend, when set, runs after a successful append.
func (h *Handler) execMedia(ctx context.Context, m Meta, mediaID string, expected uint64,
	decide func(md *domain.Media, now time.Time) error, afterAppend func(md *domain.Media, now time.Time)) (MediaResult, error) {
	md, err := h.LoadMedia(ctx, mediaID)
	if err != nil {
		return MediaResult{}, err
	}
	if expected != 0 && expected != md.Version {
		return MediaResult{}, versionConflict(md.Version)
	}
	now := h.now()
	if err := decide(md, now); err != nil {
		return MediaResult{}, err
	}
	res := mediaResult(md)
	if len(md.Changes()) == 0 {
		return res, nil
	}
	ar, err := h.appendChanges(ctx, m, domain.MediaStreamPrefix+md.ID, md.OriginalVersion(), md.Changes())
	if err != nil {
		return MediaResult{}, err
	}
	md.ClearChanges()
	if afterAppend != nil {
		afterAppend(md, now)
	}
	res.Version, res.Position, res.Changed = ar.NextVersion, ar.Position, true
	return res, nil
}
