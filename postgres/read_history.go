package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// revisionCursor is the last revision number of a page.
type revisionCursor struct {
	Revision int `json:"rev"`
}

func errPostNotFound(postID string) error {
	return domain.Errorf(domain.KindNotFound, "post_not_found", "no post %q", postID)
}

const revisionColumns = `r.post_id::text, r.revision, r.version, r.kind, r.reverted_from, r.title, r.excerpt, %s, r.tags,
	r.author_id::text, coalesce(a.username, ''), coalesce(a.display_name, ''),
	r.editor_id, coalesce(e.username, ''), coalesce(e.display_name, ''),
	r.at, r.note, r.size, r.event_id::text, r.position
FROM post_revisions r LEFT JOIN users a ON a.id = r.author_id`

func scanRevision(row pgx.Row) (queries.Revision, error) {
	var v queries.Revision
	var pos int64
	err := row.Scan(&v.PostID, &v.Revision, &v.Version, &v.Kind, &v.RevertedFrom, &v.Title, &v.Excerpt, &v.Body, &v.Tags,
		&v.Author.ID, &v.Author.Username, &v.Author.DisplayName, &v.Editor.ID, &v.Editor.Username, &v.Editor.DisplayName,
		&v.At, &v.Note, &v.Size, &v.EventID, &pos)
	v.At = v.At.UTC()
	v.Position = uint64(pos)
	return v, err
}

// ListRevisions implements queries.Finder: revisions by ascending number,
// without bodies. An unknown post is KindNotFound "post_not_found".
func (r *Reader) ListRevisions(ctx context.Context, postID string, limit int, cursor string) (queries.Page[queries.Revision], error) {
	var page queries.Page[queries.Revision]
	limit = queries.NormalizeLimit(limit)
	var cur revisionCursor
	hasCursor, err := decodeCursor(cursor, &cur)
	if err != nil {
		return page, err
	}
	if hasCursor && cur.Revision < 1 {
		return page, errInvalidCursor()
	}
	id, ok := parseUUID(postID)
	if !ok {
		return page, errPostNotFound(postID)
	}
	sql := "SELECT " + fmt.Sprintf(revisionColumns, "''") + joinUserByText("e", "r.editor_id") +
		" WHERE r.post_id = $1 AND r.revision > $2 ORDER BY r.revision LIMIT $3"
	rows, err := r.pool.Query(ctx, sql, id, cur.Revision, limit+1)
	if err != nil {
		return page, fmt.Errorf("list revisions of post %s: %w", postID, err)
	}
	revs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (queries.Revision, error) { return scanRevision(row) })
	if err != nil {
		return page, fmt.Errorf("list revisions of post %s: %w", postID, err)
	}
	if len(revs) == 0 && !hasCursor {
		return page, errPostNotFound(postID)
	}
	if len(revs) > limit {
		revs = revs[:limit]
		page.NextCursor = encodeCursor(revisionCursor{Revision: revs[limit-1].Revision})
	}
	if revs == nil {
		revs = []queries.Revision{}
	}
	page.Items = revs
	return page, nil
}

// GetRevision implements queries.Finder: revision n with its body, or
// KindNotFound "revision_not_found".
func (r *Reader) GetRevision(ctx context.Context, postID string, n int) (queries.Revision, error) {
	id, ok := parseUUID(postID)
	if !ok || n < 1 {
		return queries.Revision{}, domain.Errorf(domain.KindNotFound, "revision_not_found", "no revision %d of post %q", n, postID)
	}
	sql := "SELECT " + fmt.Sprintf(revisionColumns, "r.body") + joinUserByText("e", "r.editor_id") +
		" WHERE r.post_id = $1 AND r.revision = $2"
	v, err := scanRevision(r.pool.QueryRow(ctx, sql, id, n))
	if notFound(err) {
		return v, domain.Errorf(domain.KindNotFound, "revision_not_found", "no revision %d of post %q", n, postID)
	}
	if err != nil {
		return v, fmt.Errorf("get revision %d of post %s: %w", n, postID, err)
	}
	return v, nil
}

// ListHistory implements queries.Finder: every event of the post, oldest
// first. An unknown post is KindNotFound "post_not_found".
func (r *Reader) ListHistory(ctx context.Context, postID string) ([]queries.HistoryEntry, error) {
	id, ok := parseUUID(postID)
	if !ok {
		return nil, errPostNotFound(postID)
	}
	rows, err := r.pool.Query(ctx, `SELECT h.version, h.type, h.actor_id, coalesce(u.username, ''), coalesce(u.display_name, ''),
	h.actor_role, h.at, h.correlation_id, h.causation_id, h.summary, h.event_id::text, h.position
FROM post_history h`+joinUserByText("u", "h.actor_id")+` WHERE h.post_id = $1 ORDER BY h.version`, id)
	if err != nil {
		return nil, fmt.Errorf("list history of post %s: %w", postID, err)
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (queries.HistoryEntry, error) {
		var h queries.HistoryEntry
		var role string
		var pos int64
		err := row.Scan(&h.Version, &h.Type, &h.Actor.ID, &h.Actor.Username, &h.Actor.DisplayName, &role, &h.At,
			&h.CorrelationID, &h.CausationID, &h.Summary, &h.EventID, &pos)
		h.ActorRole, h.At, h.Position = domain.Role(role), h.At.UTC(), uint64(pos)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("list history of post %s: %w", postID, err)
	}
	if len(entries) == 0 {
		return nil, errPostNotFound(postID)
	}
	return entries, nil
}
