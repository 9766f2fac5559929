package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"

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
	r.at, r.note, r.size, r.event_id::text, r.position`

// revisionSelect selects the revisions of source, a table expression of
// post_revisions rows, with body as the body column and their users.
func revisionSelect(body, source string) string {
	return "SELECT " + fmt.Sprintf(revisionColumns, body) + " FROM " + source + " r LEFT JOIN users a ON a.id = r.author_id" +
		joinUserByText("e", "r.editor_id")
}

// keysetSource returns a table expression of the rows of one post in table
// with key beyond $2 (compare: "<" or ">"), at most $3 of them, nearest
// first. Pages read their rows through it: the LIMIT applies before the
// joins, so even a generic plan (one planned without the post id, which
// PostgreSQL may cache for a prepared statement after five runs) reads one
// page of the index, not every row of a post with thousands of them. $2 is
// cast: compared with an integer column it would be inferred as integer,
// too narrow for an open bound.
func keysetSource(table, key, compare string) string {
	order := key
	if compare == "<" {
		order += " DESC"
	}
	return "(SELECT * FROM " + table + " WHERE post_id = $1 AND " + key + " " + compare + " $2::bigint ORDER BY " + order + " LIMIT $3)"
}

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
	sql := revisionSelect("''", keysetSource("post_revisions", "revision", ">")) + " ORDER BY r.revision"
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
	sql := revisionSelect("r.body", "post_revisions") + " WHERE r.post_id = $1 AND r.revision = $2"
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
	rows, err := r.pool.Query(ctx, historySelect("post_history")+` WHERE h.post_id = $1 ORDER BY h.version`, id)
	if err != nil {
		return nil, fmt.Errorf("list history of post %s: %w", postID, err)
	}
	entries, err := pgx.CollectRows(rows, scanHistoryEntry)
	if err != nil {
		return nil, fmt.Errorf("list history of post %s: %w", postID, err)
	}
	if len(entries) == 0 {
		return nil, errPostNotFound(postID)
	}
	return entries, nil
}

// historySelect selects the timeline entries of source, a table expression
// of post_history rows, with their actors.
func historySelect(source string) string {
	return `SELECT h.version, h.type, h.actor_id, coalesce(u.username, ''), coalesce(u.display_name, ''),
	h.actor_role, h.at, h.correlation_id, h.causation_id, h.summary, h.event_id::text, h.position
FROM ` + source + " h" + joinUserByText("u", "h.actor_id")
}

func scanHistoryEntry(row pgx.CollectableRow) (queries.HistoryEntry, error) {
	var h queries.HistoryEntry
	var role string
	var pos int64
	err := row.Scan(&h.Version, &h.Type, &h.Actor.ID, &h.Actor.Username, &h.Actor.DisplayName, &role, &h.At,
		&h.CorrelationID, &h.CausationID, &h.Summary, &h.EventID, &pos)
	h.ActorRole, h.At, h.Position = domain.Role(role), h.At.UTC(), uint64(pos)
	return h, err
}

// SeekHistory implements queries.Finder: one page of the post's timeline by
// event version. An unknown post is KindNotFound "post_not_found".
func (r *Reader) SeekHistory(ctx context.Context, postID string, seek queries.Seek) (queries.Window[queries.HistoryEntry], error) {
	return seekWindow(ctx, r, "history", postID, seek, keyedList[queries.HistoryEntry]{
		selectFrom: historySelect, table: "post_history", alias: "h", key: "version", scan: scanHistoryEntry,
	})
}

// SeekRevisions implements queries.Finder: one page of the post's revisions
// by number, without bodies. An unknown post is KindNotFound
// "post_not_found".
func (r *Reader) SeekRevisions(ctx context.Context, postID string, seek queries.Seek) (queries.Window[queries.Revision], error) {
	return seekWindow(ctx, r, "revisions", postID, seek, keyedList[queries.Revision]{
		selectFrom: func(source string) string { return revisionSelect("''", source) },
		table:      "post_revisions", alias: "r", key: "revision",
		scan: func(row pgx.CollectableRow) (queries.Revision, error) { return scanRevision(row) },
	})
}

// keyedList describes a per-post table paged by a numeric key: selectFrom
// selects the rows of a table expression of it, aliased as alias.
type keyedList[T any] struct {
	selectFrom        func(source string) string
	table, alias, key string
	scan              func(pgx.CollectableRow) (T, error)
}

// seekWindow reads one keyset page of l for postID: the page (one row more
// than the limit, to tell whether the list goes on in the direction of
// travel) and, when the page starts at a bound, whether any row lies beyond
// it on the other side, both in one round trip. Each is a range scan of the
// (post_id, key) primary key.
func seekWindow[T any](ctx context.Context, r *Reader, what, postID string, seek queries.Seek, l keyedList[T]) (queries.Window[T], error) {
	var w queries.Window[T]
	id, ok := parseUUID(postID)
	if !ok {
		return w, errPostNotFound(postID)
	}
	limit := queries.NormalizeLimit(seek.Limit)
	// Keys are positive bigint or integer columns: a bound past MaxInt64
	// bounds nothing more than MaxInt64 does.
	bound := int64(min(seek.Bound, math.MaxInt64))
	page := l.selectFrom(keysetSource(l.table, l.key, ">")) + " ORDER BY " + l.alias + "." + l.key
	beyond := l.key + " <= $2::bigint"
	if seek.Backward {
		if bound == 0 {
			bound = math.MaxInt64
		}
		page = l.selectFrom(keysetSource(l.table, l.key, "<")) + " ORDER BY " + l.alias + "." + l.key + " DESC"
		beyond = l.key + " >= $2::bigint"
	}
	// A page from the newest (or oldest) entry has nothing beyond its start.
	bounded := seek.Bound != 0
	batch := &pgx.Batch{}
	batch.Queue(page, id, bound, limit+1)
	if bounded {
		batch.Queue("SELECT EXISTS (SELECT 1 FROM "+l.table+" WHERE post_id = $1 AND "+beyond+")", id, bound)
	}
	br := r.pool.SendBatch(ctx, batch)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return w, fmt.Errorf("seek %s of post %s: %w", what, postID, err)
	}
	items, err := pgx.CollectRows(rows, l.scan)
	if err != nil {
		return w, fmt.Errorf("seek %s of post %s: %w", what, postID, err)
	}
	var other bool
	if bounded {
		if err := br.QueryRow().Scan(&other); err != nil {
			return w, fmt.Errorf("seek %s of post %s: %w", what, postID, err)
		}
	}
	if err := br.Close(); err != nil {
		return w, fmt.Errorf("seek %s of post %s: %w", what, postID, err)
	}
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	if len(items) == 0 && !other {
		return w, errPostNotFound(postID)
	}
	if seek.Backward {
		slices.Reverse(items)
		w.Older, w.Newer = more, other
	} else {
		w.Older, w.Newer = other, more
	}
	w.Items = items
	return w, nil
}
