package commands

import (
	"context"
	"io"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/media"
)

// ChangeMediaAlt is the command to replace a media item's alternative text.
type ChangeMediaAlt struct {
	MediaID         string
	ExpectedVersion uint64 // 0: not checked
	Alt             string
}

// ChangeMediaAlt changes a media item's alt text (its uploader, editors,
// admins).
func (h *Handler) ChangeMediaAlt(ctx context.Context, m Meta, c ChangeMediaAlt) (MediaResult, error) {
	return h.execMedia(ctx, m, c.MediaID, c.ExpectedVersion, func(md *domain.Media, now time.Time) error {
		return md.ChangeAlt(m.Actor, c.Alt, now)
	}, nil)
}

// MediaRef addresses a media item at an expected version (0: not checked).
type MediaRef struct {
	MediaID         string
	ExpectedVersion uint64
}

// DeleteMedia removes a media item from the library (editors, admins). It
// is refused with KindConflict "media_in_use" (Detail "published_posts")
// while the configured MediaUsage reports published or scheduled posts with
// it as feature image. The blobs stay (history and unpublished posts may
// still reference them); the hash reservation is released, so uploading the
// same bytes again creates a new item.
func (h *Handler) DeleteMedia(ctx context.Context, m Meta, c MediaRef) (MediaResult, error) {
	return h.execMedia(ctx, m, c.MediaID, c.ExpectedVersion, func(md *domain.Media, now time.Time) error {
		if err := md.Delete(m.Actor, now); err != nil {
			return err
		}
		if h.media == nil || h.media.usage == nil {
			return nil
		}
		n, err := h.media.usage.PublishedPostsUsing(ctx, md.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			e := domain.Errorf(domain.KindConflict, "media_in_use", "the media is the feature image of %d published post(s)", n)
			e.Detail = map[string]any{"published_posts": n}
			return e
		}
		return nil
	}, func(md *domain.Media, now time.Time) {
		_ = h.release(ctx, m, MediaHashStream(md.Hash), md.ID, md.Hash, now)
	})
}

// SetFeatureImage is the command to set or (with an empty MediaID) remove a
// post's feature image.
type SetFeatureImage struct {
	PostID          string
	ExpectedVersion uint64
	MediaID         string
	// Alt overrides the media's alt text for this post; empty uses the
	// media's.
	Alt string
}

// SetFeatureImage sets a post's feature image (whoever may edit the post).
// The media item must exist and not be deleted (KindNotFound
// "media_not_found").
func (h *Handler) SetFeatureImage(ctx context.Context, m Meta, c SetFeatureImage) (Result, error) {
	var mediaID, hash, alt string
	if c.MediaID != "" {
		md, err := h.LoadMedia(ctx, c.MediaID)
		if err != nil {
			return Result{}, err
		}
		if md.Deleted {
			return Result{}, mediaNotFound(c.MediaID)
		}
		mediaID, hash, alt = md.ID, md.Hash, md.Alt
		if c.Alt != "" {
			alt = c.Alt
		}
	}
	return h.execPost(ctx, m, postCommand{
		postID:   c.PostID,
		expected: c.ExpectedVersion,
		decide: func(p *domain.Post, now time.Time) error {
			return p.SetFeatureImage(m.Actor, mediaID, hash, alt, now)
		},
	})
}

// AvatarResult reports SetAvatar: the embedded Result addresses the user;
// Media the uploaded (or deduplicated) media item.
type AvatarResult struct {
	Result
	Media MediaResult
}

// SetAvatar uploads r as userID's profile picture (the account's owner or
// an admin; readers too). Its renditions are at most 480×480 (thumb) and
// 128×128 (small); the same bytes already in the library are reused as they
// are. The upload is refused before any processing if the actor may not
// change the account.
func (h *Handler) SetAvatar(ctx context.Context, m Meta, userID string, r io.Reader) (AvatarResult, error) {
	if err := h.mediaReady(); err != nil {
		return AvatarResult{}, err
	}
	u, err := h.LoadUser(ctx, userID)
	if err != nil {
		return AvatarResult{}, err
	}
	// Dry run of the decision with a placeholder, to refuse early.
	placeholder := "00000000-0000-0000-0000-000000000000"
	if err := u.ChangeAvatar(m.Actor, placeholder, placeholderHash, h.now()); err != nil && domain.CodeOf(err) != "no_changes" {
		return AvatarResult{}, err
	}
	mr, err := h.upload(ctx, m, UploadMedia{Reader: r}, media.AvatarProfile, domain.UploadAvatarMedia)
	if err != nil {
		return AvatarResult{}, err
	}
	res, err := h.execUser(ctx, m, u.ID, func(u *domain.User, now time.Time) error {
		return u.ChangeAvatar(m.Actor, mr.ID, mr.Hash, now)
	})
	if domain.CodeOf(err) == "no_changes" {
		cur, lerr := h.LoadUser(ctx, u.ID)
		if lerr != nil {
			return AvatarResult{}, lerr
		}
		return AvatarResult{Result: Result{ID: cur.ID, Version: cur.Version}, Media: mr}, nil
	}
	if err != nil {
		return AvatarResult{}, err
	}
	return AvatarResult{Result: res, Media: mr}, nil
}

// placeholderHash is a well-formed hash for dry-run decisions.
const placeholderHash = "0000000000000000000000000000000000000000000000000000000000000000"
