package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// postCursor is the sort key of the last post of a page: (sort_at, id)
// newest first, preceded by the rank when the list is a search.
type postCursor struct {
	Search bool      `json:"s,omitempty"`
	Rank   float32   `json:"r,omitempty"`
	At     time.Time `json:"t"`
	ID     string    `json:"id"`
}

const postSummaryColumns = `p.id::text, p.slug, p.title, p.excerpt, p.tags, p.status, p.author_id::text,
	coalesce(a.username, ''), coalesce(a.display_name, ''), p.version, p.revision, p.created_at, p.updated_at,
	p.published_at, p.scheduled_for, ` + featureImageColumns + `, p.sort_at`

// featureImageColumns and joinFeatureMedia read a post's feature image with
// the post itself, as FeatureImages does, so a page or a post costs one
// round trip: the media columns are NULL for posts without one.
const (
	featureImageColumns = `coalesce(p.feature_media_id::text, ''), p.feature_hash, p.feature_alt, m.width, m.height, m.renditions`
	joinFeatureMedia    = ` LEFT JOIN media m ON m.id = p.feature_media_id`
)

// featureImage holds the scanned featureImageColumns.
type featureImage struct {
	mediaID, hash, alt string
	width, height      *int
	renditions         []byte
}

// dest returns the scan destinations of featureImageColumns.
func (f *featureImage) dest() []any {
	return []any{&f.mediaID, &f.hash, &f.alt, &f.width, &f.height, &f.renditions}
}

// link returns the scanned feature image, nil when the post has none.
func (f *featureImage) link() (*queries.MediaLink, error) {
	if f.mediaID == "" {
		return nil, nil
	}
	l := &queries.MediaLink{MediaID: f.mediaID, Hash: f.hash, Alt: f.alt}
	if f.width != nil {
		l.Width = *f.width
	}
	if f.height != nil {
		l.Height = *f.height
	}
	l.Renditions = []queries.MediaRendition{}
	if len(f.renditions) > 0 {
		if err := json.Unmarshal(f.renditions, &l.Renditions); err != nil {
			return nil, fmt.Errorf("decode renditions of media %s: %w", f.mediaID, err)
		}
	}
	return l, nil
}

// statusValue returns a known status as an SQL literal, anything else as a
// parameter of a. Statuses and limits are written into list statements so
// the common lists (the public first page above all) are statements without
// parameters: PostgreSQL plans those once per connection, while with a
// status or LIMIT parameter it re-planned them on every execution (its
// generic plan looked dearer), and planning cost more than running them.
// The statuses are a closed set of plain words, safe as literals.
func statusValue(a *args, s domain.PostStatus) string {
	if s.Valid() {
		return "'" + string(s) + "'"
	}
	return a.add(string(s))
}

// ListPosts implements queries.Finder. Lists are newest first by
// coalesce(published_at, created_at), then id; with Q they are ordered by
// full-text rank (title weighs more than excerpt, excerpt more than body),
// then recency.
func (r *Reader) ListPosts(ctx context.Context, f queries.PostFilter) (queries.Page[queries.PostSummary], error) {
	var page queries.Page[queries.PostSummary]
	limit := queries.NormalizeLimit(f.Limit)
	q := searchText(f.Q)
	search := q != ""

	var cur postCursor
	hasCursor, err := decodeCursor(f.Cursor, &cur)
	if err != nil {
		return page, err
	}
	if hasCursor {
		if _, ok := parseUUID(cur.ID); !ok || cur.Search != search || cur.At.IsZero() {
			return page, errInvalidCursor()
		}
	}
	if f.Status != "" && !f.Status.Valid() {
		return page, domain.Invalid("invalid_status", "unknown post status", map[string][]string{"status": {"must be one of draft, in_review, scheduled, published, archived, deleted"}})
	}

	if !validText(f.Tag, f.Author) {
		page.Items = []queries.PostSummary{}
		return page, nil
	}
	var a args
	var where []string
	excludeDeleted := !slices.Contains(f.Statuses, domain.StatusDeleted)
	if !f.IncludeAll {
		statuses := f.Statuses
		if len(statuses) == 0 {
			statuses = []domain.PostStatus{domain.StatusPublished}
		}
		var cond string
		if len(statuses) == 1 {
			// Equality lets the (status, sort_at, id) index deliver the order.
			cond = "p.status = " + statusValue(&a, statuses[0])
		} else {
			names := make([]string, len(statuses))
			for i, s := range statuses {
				names[i] = string(s)
			}
			cond = "p.status = ANY(" + a.add(names) + "::text[])"
		}
		if id, ok := parseUUID(f.AuthorID); ok {
			cond = "(" + cond + " OR p.author_id = " + a.add(id) + "::uuid)"
		} else {
			excludeDeleted = false // the visible statuses decide alone
		}
		where = append(where, cond)
	}
	switch {
	case f.Status != "":
		where = append(where, "p.status = "+statusValue(&a, f.Status))
	case excludeDeleted:
		where = append(where, "p.status <> 'deleted'")
	}
	if f.Tag != "" {
		where = append(where, "p.tags @> ARRAY["+a.add(f.Tag)+"::text]")
	}
	if f.Author != "" {
		where = append(where, "p.author_id = (SELECT id FROM users WHERE username = "+a.add(f.Author)+")")
	}
	rank, order := "", "p.sort_at DESC, p.id DESC"
	if search {
		tsq := "websearch_to_tsquery('english', " + a.add(q) + ")"
		rank = "ts_rank(s.search, " + tsq + ")"
		where = append(where, "s.search @@ "+tsq)
		order = "rank DESC, " + order
	}
	if hasCursor {
		if search {
			where = append(where, "("+rank+", p.sort_at, p.id) < ("+a.add(cur.Rank)+"::real, "+a.add(cur.At)+"::timestamptz, "+a.add(cur.ID)+"::uuid)")
		} else {
			where = append(where, "(p.sort_at, p.id) < ("+a.add(cur.At)+"::timestamptz, "+a.add(cur.ID)+"::uuid)")
		}
	}
	sql := "SELECT " + postSummaryColumns
	if search {
		sql += ", " + rank + " AS rank"
	} else {
		sql += ", 0::real AS rank"
	}
	sql += " FROM posts p"
	if search {
		// post_search (search_v1) holds the vectors, a batch behind posts.
		sql += " JOIN post_search s ON s.post_id = p.id"
	}
	sql += " LEFT JOIN users a ON a.id = p.author_id" + joinFeatureMedia
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	// The limit is written into the statement too (see statusValue).
	sql += " ORDER BY " + order + " LIMIT " + strconv.Itoa(limit+1)

	rows, err := r.pool.Query(ctx, sql, a...)
	if err != nil {
		return page, fmt.Errorf("list posts: %w", err)
	}
	type item struct {
		queries.PostSummary
		sortAt time.Time
		rank   float32
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (item, error) {
		var it item
		var status string
		var fi featureImage
		dest := append([]any{&it.ID, &it.Slug, &it.Title, &it.Excerpt, &it.Tags, &status, &it.Author.ID,
			&it.Author.Username, &it.Author.DisplayName, &it.Version, &it.Revision, &it.CreatedAt, &it.UpdatedAt,
			&it.PublishedAt, &it.ScheduledFor}, fi.dest()...)
		if err := row.Scan(append(dest, &it.sortAt, &it.rank)...); err != nil {
			return it, err
		}
		it.Status = domain.PostStatus(status)
		normalizePostTimes(&it.CreatedAt, &it.UpdatedAt, it.PublishedAt, it.ScheduledFor)
		it.FeatureMediaID = fi.mediaID
		var err error
		it.FeatureImage, err = fi.link()
		return it, err
	})
	if err != nil {
		return page, fmt.Errorf("list posts: %w", err)
	}
	page.Items = make([]queries.PostSummary, 0, min(len(items), limit))
	for i, it := range items {
		if i == limit {
			last := items[limit-1]
			page.NextCursor = encodeCursor(postCursor{Search: search, Rank: last.rank, At: last.sortAt.UTC(), ID: last.ID})
			break
		}
		page.Items = append(page.Items, it.PostSummary)
	}
	return page, nil
}

// GetPost implements queries.Finder: idOrSlug is tried as an id first (a
// slug may look like a UUID), then as a slug.
func (r *Reader) GetPost(ctx context.Context, idOrSlug string) (queries.Post, error) {
	const sql = `SELECT p.id::text, p.slug, p.title, p.excerpt, p.body, coalesce(p.body_html, ''), p.tags, p.status,
	p.author_id::text, coalesce(a.username, ''), coalesce(a.display_name, ''), p.version, p.revision,
	p.created_at, p.updated_at, p.published_at, p.scheduled_for, p.deleted_at,
	` + featureImageColumns + `
FROM posts p LEFT JOIN users a ON a.id = p.author_id` + joinFeatureMedia + ` WHERE `
	scan := func(row pgx.Row) (queries.Post, error) {
		var p queries.Post
		var status string
		var fi featureImage
		err := row.Scan(append([]any{&p.ID, &p.Slug, &p.Title, &p.Excerpt, &p.Body, &p.BodyHTML, &p.Tags, &status,
			&p.Author.ID, &p.Author.Username, &p.Author.DisplayName, &p.Version, &p.Revision,
			&p.CreatedAt, &p.UpdatedAt, &p.PublishedAt, &p.ScheduledFor, &p.DeletedAt}, fi.dest()...)...)
		if err != nil {
			return p, err
		}
		p.Status = domain.PostStatus(status)
		normalizePostTimes(&p.CreatedAt, &p.UpdatedAt, p.PublishedAt, p.ScheduledFor)
		if p.DeletedAt != nil {
			*p.DeletedAt = p.DeletedAt.UTC()
		}
		p.FeatureMediaID = fi.mediaID
		p.FeatureImage, err = fi.link()
		return p, err
	}
	if id, ok := parseUUID(idOrSlug); ok {
		p, err := scan(r.pool.QueryRow(ctx, sql+"p.id = $1", id))
		if err == nil {
			return p, nil
		}
		if !notFound(err) {
			return p, fmt.Errorf("get post %s: %w", idOrSlug, err)
		}
	}
	if !validText(idOrSlug) {
		return queries.Post{}, domain.Errorf(domain.KindNotFound, "post_not_found", "no post %q", idOrSlug)
	}
	p, err := scan(r.pool.QueryRow(ctx, sql+"p.slug = $1", idOrSlug))
	if notFound(err) {
		return p, domain.Errorf(domain.KindNotFound, "post_not_found", "no post %q", idOrSlug)
	}
	if err != nil {
		return p, fmt.Errorf("get post %s: %w", idOrSlug, err)
	}
	return p, nil
}

// normalizePostTimes reports times in UTC (API.md) and tags as [] not null.
func normalizePostTimes(created, updated *time.Time, published, scheduled *time.Time) {
	*created, *updated = created.UTC(), updated.UTC()
	if published != nil {
		*published = published.UTC()
	}
	if scheduled != nil {
		*scheduled = scheduled.UTC()
	}
}
