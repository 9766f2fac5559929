package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/queries"
)

var _ queries.MediaLinkFinder = (*Reader)(nil)

// FeatureImages implements queries.MediaLinkFinder.
func (r *Reader) FeatureImages(ctx context.Context, postIDs []string) (map[string]queries.MediaLink, error) {
	return r.mediaLinks(ctx, "feature images", `SELECT p.id::text, p.feature_media_id::text, p.feature_hash, p.feature_alt,
	coalesce(m.width, 0), coalesce(m.height, 0), coalesce(m.renditions, '[]'::jsonb)
FROM posts p LEFT JOIN media m ON m.id = p.feature_media_id
WHERE p.id = ANY($1::uuid[]) AND p.feature_media_id IS NOT NULL`, postIDs)
}

// Avatars implements queries.MediaLinkFinder.
func (r *Reader) Avatars(ctx context.Context, userIDs []string) (map[string]queries.MediaLink, error) {
	return r.mediaLinks(ctx, "avatars", `SELECT u.id::text, u.avatar_media_id::text, u.avatar_hash, '',
	coalesce(m.width, 0), coalesce(m.height, 0), coalesce(m.renditions, '[]'::jsonb)
FROM users u LEFT JOIN media m ON m.id = u.avatar_media_id
WHERE u.id = ANY($1::uuid[]) AND u.avatar_media_id IS NOT NULL`, userIDs)
}

func (r *Reader) mediaLinks(ctx context.Context, what, sql string, ids []string) (map[string]queries.MediaLink, error) {
	out := map[string]queries.MediaLink{}
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if u, ok := parseUUID(id); ok {
			valid = append(valid, u)
		}
	}
	if len(valid) == 0 {
		return out, nil
	}
	rows, err := r.pool.Query(ctx, sql, valid)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	var (
		owner      string
		l          queries.MediaLink
		renditions []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&owner, &l.MediaID, &l.Hash, &l.Alt, &l.Width, &l.Height, &renditions}, func() error {
		link := l
		if err := json.Unmarshal(renditions, &link.Renditions); err != nil {
			return fmt.Errorf("decode renditions of media %s: %w", link.MediaID, err)
		}
		out[owner] = link
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return out, nil
}
