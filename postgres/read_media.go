package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/queries"
)

var _ queries.MediaFinder = (*Reader)(nil)

// mediaCursor is the sort key of the last item of a media page.
type mediaCursor struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

const mediaColumns = `m.id::text, m.hash, m.type, m.size, m.width, m.height, m.alt,
	m.uploader_id::text, coalesce(u.username, ''), coalesce(u.display_name, ''), m.renditions,
	m.version, m.created_at, m.updated_at, m.deleted_at
FROM media m LEFT JOIN users u ON u.id = m.uploader_id`

func scanMedia(row pgx.Row) (queries.Media, error) {
	var m queries.Media
	var renditions []byte
	err := row.Scan(&m.ID, &m.Hash, &m.Type, &m.Size, &m.Width, &m.Height, &m.Alt,
		&m.Uploader.ID, &m.Uploader.Username, &m.Uploader.DisplayName, &renditions,
		&m.Version, &m.CreatedAt, &m.UpdatedAt, &m.DeletedAt)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(renditions, &m.Renditions); err != nil {
		return m, fmt.Errorf("decode renditions of media %s: %w", m.ID, err)
	}
	if m.Renditions == nil {
		m.Renditions = []queries.MediaRendition{}
	}
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	if m.DeletedAt != nil {
		*m.DeletedAt = m.DeletedAt.UTC()
	}
	return m, nil
}

// ListMedia implements queries.MediaFinder: live items newest first,
// keyset-paged on (created_at, id).
func (r *Reader) ListMedia(ctx context.Context, f queries.MediaFilter) (queries.Page[queries.Media], error) {
	var page queries.Page[queries.Media]
	limit := queries.NormalizeLimit(f.Limit)
	var cur mediaCursor
	hasCursor, err := decodeCursor(f.Cursor, &cur)
	if err != nil {
		return page, err
	}
	if hasCursor {
		if _, ok := parseUUID(cur.ID); !ok || cur.At.IsZero() {
			return page, errInvalidCursor()
		}
	}
	var a args
	where := []string{"m.deleted_at IS NULL"}
	if f.UploaderID != "" {
		id, ok := parseUUID(f.UploaderID)
		if !ok {
			return page, domain.Invalid("invalid_uploader", "the uploader must be a user ID", map[string][]string{"uploader": {"must be a UUID"}})
		}
		where = append(where, "m.uploader_id = "+a.add(id)+"::uuid")
	}
	if f.Type != "" {
		if !validText(f.Type) || len(f.Type) > 100 {
			return page, domain.Invalid("invalid_type", "the type is invalid", map[string][]string{"type": {"must be a MIME type"}})
		}
		where = append(where, "m.type = "+a.add(f.Type))
	}
	if hasCursor {
		where = append(where, "(m.created_at, m.id) < ("+a.add(cur.At)+"::timestamptz, "+a.add(cur.ID)+"::uuid)")
	}
	sql := "SELECT " + mediaColumns + " WHERE " + strings.Join(where, " AND ") +
		" ORDER BY m.created_at DESC, m.id DESC LIMIT " + a.add(limit+1)
	rows, err := r.pool.Query(ctx, sql, a...)
	if err != nil {
		return page, fmt.Errorf("list media: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (queries.Media, error) { return scanMedia(row) })
	if err != nil {
		return page, fmt.Errorf("list media: %w", err)
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		page.NextCursor = encodeCursor(mediaCursor{At: last.CreatedAt, ID: last.ID})
	}
	if items == nil {
		items = []queries.Media{}
	}
	page.Items = items
	return page, nil
}

// GetMedia implements queries.MediaFinder.
func (r *Reader) GetMedia(ctx context.Context, id string) (queries.Media, error) {
	uid, ok := parseUUID(id)
	if !ok {
		return queries.Media{}, domain.Errorf(domain.KindNotFound, "media_not_found", "no media %q", id)
	}
	m, err := scanMedia(r.pool.QueryRow(ctx, "SELECT "+mediaColumns+" WHERE m.id = $1", uid))
	if notFound(err) {
		return m, domain.Errorf(domain.KindNotFound, "media_not_found", "no media %q", id)
	}
	if err != nil {
		return m, fmt.Errorf("get media %s: %w", id, err)
	}
	return m, nil
}

// PublishedPostsUsing implements queries.MediaFinder and
// commands.MediaUsage: published or scheduled posts (scheduled ones will
// go public on their own) whose feature image is mediaID.
func (r *Reader) PublishedPostsUsing(ctx context.Context, mediaID string) (int, error) {
	id, ok := parseUUID(mediaID)
	if !ok {
		return 0, nil
	}
	var n int
	err := r.pool.QueryRow(ctx, `SELECT count(*) FROM media_post_usage
WHERE media_id = $1 AND status IN ('published', 'scheduled')`, id).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count posts using media %s: %w", mediaID, err)
	}
	return n, nil
}
