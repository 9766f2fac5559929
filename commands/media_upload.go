package commands

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/media"
)

// UploadMedia is the command to add an image to the media library.
type UploadMedia struct {
	// Filename is the client's file name. It is never used to name or type
	// anything (blobs are content-addressed, the type is sniffed).
	Filename string
	// Alt is the alternative text (optional, at most 1,000 characters).
	Alt string
	// Reader supplies the file's bytes; at most the configured limit is read.
	Reader io.Reader
	// Size is the declared length (e.g. the multipart part's size); 0 when
	// unknown. A declared size over the limit is refused without reading.
	Size int64
}

// existingMediaWait bounds how long an upload of bytes whose reservation
// another upload holds waits for that upload's MediaUploaded event.
const existingMediaWait = 5 * time.Second

// UploadMedia validates and processes an upload (author and up), stores its
// renditions and records MediaUploaded on a new media-<uuid> stream. The
// same bytes uploaded again (by anyone) return the existing media item with
// Changed=false: the mediahash-<sha256> reservation stream, claimed with
// NoStream, makes that strongly consistent. Refusals (size, type, pixels,
// corrupt data, role) happen before anything is stored.
func (h *Handler) UploadMedia(ctx context.Context, m Meta, c UploadMedia) (MediaResult, error) {
	if err := h.mediaReady(); err != nil {
		return MediaResult{}, err
	}
	if !m.Actor.Role.CanWritePosts() || m.Actor.Anonymous() {
		return MediaResult{}, domain.Errorf(domain.KindForbidden, "forbidden_role", "role %q may not upload media", m.Actor.Role)
	}
	return h.upload(ctx, m, c, media.LibraryProfile, domain.UploadMedia)
}

// upload implements UploadMedia for a profile and a domain decision.
func (h *Handler) upload(ctx context.Context, m Meta, c UploadMedia, profile media.Profile,
	decide func(domain.Actor, domain.MediaUploaded, time.Time) (*domain.Media, error)) (MediaResult, error) {
	limit := h.media.proc.Limits().MaxBytes
	if c.Size > limit {
		return MediaResult{}, domain.Errorf(domain.KindTooLarge, "media_too_large", "the file is larger than %d bytes", limit)
	}
	if c.Reader == nil {
		return MediaResult{}, domain.Invalid("empty_upload", "the file is missing", map[string][]string{"file": {"is required"}})
	}
	// Validate the alt text before the expensive work.
	if err := domain.ValidateAlt(domain.NormalizeAlt(c.Alt)); err != nil {
		return MediaResult{}, err
	}
	b, err := h.media.proc.ReadUpload(c.Reader)
	if err != nil {
		return MediaResult{}, err
	}
	// Bytes already in the library need no processing.
	sum := sha256.Sum256(b)
	if existing, ok, err := h.liveMedia(ctx, MediaHashStream(hex.EncodeToString(sum[:]))); err != nil || ok {
		return existing, err
	}
	res, err := h.media.proc.ProcessBytes(ctx, b, profile)
	if err != nil {
		return MediaResult{}, err
	}
	renditions := make([]domain.Rendition, len(res.Renditions))
	for i, r := range res.Renditions {
		renditions[i] = domain.Rendition{Name: r.Name, Width: r.Width, Height: r.Height, Type: r.Type, Size: int64(len(r.Data))}
	}
	now := h.now()
	mediaID := newID()
	md, err := decide(m.Actor, domain.MediaUploaded{
		MediaID: mediaID, Hash: res.Hash, Type: res.Type, Size: res.Size, Width: res.Width, Height: res.Height,
		Alt: c.Alt, Renditions: renditions,
	}, now)
	if err != nil {
		return MediaResult{}, err
	}

	stream := MediaHashStream(res.Hash)
	for attempt := 0; ; attempt++ {
		_, err = h.claim(ctx, m, stream, mediaID, res.Hash, "media_exists", now)
		if domain.CodeOf(err) != "media_exists" {
			break
		}
		existing, stale, err := h.existingMedia(ctx, stream)
		if err != nil {
			return MediaResult{}, err
		}
		if !stale || attempt >= 2 {
			existing.Changed = false
			return existing, nil
		}
		// The reservation points at a deleted item whose release failed:
		// release it on that item's behalf and claim again.
		if err := h.release(ctx, m, stream, existing.ID, res.Hash, now); err != nil {
			return MediaResult{}, err
		}
	}
	if err != nil {
		return MediaResult{}, err
	}
	undo := func() { _ = h.release(ctx, m, stream, mediaID, res.Hash, now) }
	if err := h.putBlobs(ctx, res); err != nil {
		undo()
		return MediaResult{}, err
	}
	ar, err := h.appendChanges(ctx, m, domain.MediaStreamPrefix+mediaID, 0, md.Changes())
	if err != nil {
		undo()
		return MediaResult{}, err
	}
	md.ClearChanges()
	out := mediaResult(md)
	out.Version, out.Position, out.Changed = ar.NextVersion, ar.Position, true
	return out, nil
}

// liveMedia returns the media item holding the hash reservation stream, if
// any and not deleted.
func (h *Handler) liveMedia(ctx context.Context, stream string) (MediaResult, bool, error) {
	owner, err := h.owner(ctx, stream)
	if err != nil || owner == "" {
		return MediaResult{}, false, err
	}
	md, err := h.LoadMedia(ctx, owner)
	if domain.KindOf(err) == domain.KindNotFound {
		return MediaResult{}, false, nil // being uploaded right now
	}
	if err != nil || md.Deleted {
		return MediaResult{}, false, err
	}
	return mediaResult(md), true, nil
}

// existingMedia returns the media item holding the hash reservation stream,
// waiting briefly for a concurrent upload to record it. stale reports that
// the holder is deleted (its reservation should have been released).
func (h *Handler) existingMedia(ctx context.Context, stream string) (MediaResult, bool, error) {
	deadline := time.Now().Add(existingMediaWait)
	for {
		owner, err := h.owner(ctx, stream)
		if err != nil {
			return MediaResult{}, false, err
		}
		if owner != "" {
			md, err := h.LoadMedia(ctx, owner)
			if err == nil {
				return mediaResult(md), md.Deleted, nil
			}
			if domain.KindOf(err) != domain.KindNotFound {
				return MediaResult{}, false, err
			}
		}
		if time.Now().After(deadline) {
			return MediaResult{}, false, domain.Errorf(domain.KindConflict, "media_upload_in_progress",
				"the same file is being uploaded right now; try again")
		}
		select {
		case <-ctx.Done():
			return MediaResult{}, false, fmt.Errorf("wait for media upload: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// putBlobs stores the original and every rendition of res.
func (h *Handler) putBlobs(ctx context.Context, res *media.Result) error {
	if err := h.media.blobs.Put(ctx, res.Hash, media.RenditionOriginal, bytes.NewReader(res.Original)); err != nil {
		return fmt.Errorf("store media: %w", err)
	}
	for _, r := range res.Renditions {
		if err := h.media.blobs.Put(ctx, res.Hash, r.Name, bytes.NewReader(r.Data)); err != nil {
			return fmt.Errorf("store media: %w", err)
		}
	}
	return nil
}
