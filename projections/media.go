package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// MediaName is the media projection's versioned name.
//
// WARNING: the name is the projection's checkpoint key. Change the tables or
// semantics only under a new name (media_v2) and rebuild.
const MediaName = "media_v1"

// Media projects media streams into the media table (the library) and the
// status and feature image of every post into media_post_usage, which
// answers whether published posts use a media item
// (postgres.Reader.PublishedPostsUsing). Tables: postgres/migrations/0004_media.sql.
type Media struct{}

// NewMedia returns the media projection.
func NewMedia() *Media { return &Media{} }

// Name implements Projection.
func (*Media) Name() string { return MediaName }

// Tables implements Projection.
func (*Media) Tables() []string { return []string{"media", "media_post_usage"} }

// StreamPrefixes implements Projection.
func (*Media) StreamPrefixes() []string {
	return []string{domain.MediaStreamPrefix, domain.PostStreamPrefix}
}

const (
	sqlMediaUploaded = `INSERT INTO media (id, hash, type, size, width, height, alt, uploader_id, renditions,
	version, created_at, updated_at, last_position)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)
ON CONFLICT (id) DO NOTHING`
	sqlMediaAlt = `UPDATE media SET alt = $5, version = $3, updated_at = $4, last_position = $2
WHERE id = $1 AND last_position < $2`
	sqlMediaDeleted = `UPDATE media SET deleted_at = $4, version = $3, updated_at = $4, last_position = $2
WHERE id = $1 AND last_position < $2`
	sqlMediaTouch = `UPDATE media SET version = $3, updated_at = $4, last_position = $2
WHERE id = $1 AND last_position < $2`

	sqlUsageDrafted = `INSERT INTO media_post_usage (post_id, status, media_id, last_position)
VALUES ($1, 'draft', NULL, $2) ON CONFLICT (post_id) DO NOTHING`
	sqlUsageStatus = `UPDATE media_post_usage SET status = $3, last_position = $2
WHERE post_id = $1 AND last_position < $2`
	sqlUsageImage = `UPDATE media_post_usage SET media_id = NULLIF($3, '')::uuid, last_position = $2
WHERE post_id = $1 AND last_position < $2`
)

// Apply implements Projection.
func (p *Media) Apply(ctx context.Context, tx pgx.Tx, ev Event) error {
	if id, ok := strings.CutPrefix(ev.StreamID, domain.MediaStreamPrefix); ok {
		return p.applyMedia(ctx, tx, id, ev)
	}
	if id, ok := strings.CutPrefix(ev.StreamID, domain.PostStreamPrefix); ok {
		return p.applyPost(ctx, tx, id, ev)
	}
	return nil
}

func (*Media) applyMedia(ctx context.Context, tx pgx.Tx, id string, ev Event) error {
	if ev.Payload == nil {
		return fmt.Errorf("media projection: event %s (%s) at %d: unknown event type", ev.ID, ev.Type, ev.Position)
	}
	if len(id) != 36 {
		return fmt.Errorf("media projection: event %s: stream %q is not a media stream", ev.ID, ev.StreamID)
	}
	pos, at, ver := int64(ev.Position), ev.OccurredAt(), int64(ev.Version)
	var sql string
	args := []any{id, pos, ver, at}
	switch e := ev.Payload.(type) {
	case domain.MediaUploaded:
		renditions := e.Renditions
		if renditions == nil {
			renditions = []domain.Rendition{}
		}
		rj, err := json.Marshal(renditions)
		if err != nil {
			return fmt.Errorf("media projection: encode renditions of %s: %w", id, err)
		}
		sql = sqlMediaUploaded
		args = []any{id, e.Hash, e.Type, e.Size, e.Width, e.Height, e.Alt, e.UploaderID, rj, ver, at, pos}
	case domain.MediaAltTextChanged:
		sql = sqlMediaAlt
		args = append(args, e.Alt)
	case domain.MediaDeleted:
		sql = sqlMediaDeleted
	default:
		sql = sqlMediaTouch
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("media projection: apply %s at %d to media %s: %w", ev.Type, ev.Position, id, err)
	}
	return nil
}

func (*Media) applyPost(ctx context.Context, tx pgx.Tx, id string, ev Event) error {
	if len(id) != 36 {
		return fmt.Errorf("media projection: event %s: stream %q is not a post stream", ev.ID, ev.StreamID)
	}
	pos := int64(ev.Position)
	var sql string
	var args []any
	status := func(s domain.PostStatus) {
		sql, args = sqlUsageStatus, []any{id, pos, string(s)}
	}
	switch e := ev.Payload.(type) {
	case domain.PostDrafted:
		sql, args = sqlUsageDrafted, []any{id, pos}
	case domain.PostFeatureImageSet:
		sql, args = sqlUsageImage, []any{id, pos, e.MediaID}
	case domain.PostSubmittedForReview:
		status(domain.StatusInReview)
	case domain.PostChangesRequested, domain.PostUnpublished:
		status(domain.StatusDraft)
	case domain.PostPublished:
		status(domain.StatusPublished)
	case domain.PostScheduled:
		status(domain.StatusScheduled)
	case domain.PostArchived:
		status(domain.StatusArchived)
	case domain.PostDeleted:
		status(domain.StatusDeleted)
	case domain.PostRestored:
		status(e.Status)
	default: // content edits, slug changes and types this build does not know
		return nil
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("media projection: apply %s at %d to post %s: %w", ev.Type, ev.Position, id, err)
	}
	return nil
}
