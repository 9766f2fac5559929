package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// PostsName is the posts projection's versioned name.
//
// WARNING: the name is the projection's checkpoint key. Change the tables or
// semantics only under a new name (posts_v2) and rebuild.
const PostsName = "posts_v1"

// Posts projects post streams into the posts table (current state of every
// post, any status, with rendered HTML) and the tags table (tag counts over
// published posts). The full-text vector of a post is search_v1's (Search).
//
// Markdown is rendered only for current states. Without batches (see
// Batcher) every event is one statement and content events render on the
// spot. Inside a batch, events only fold into an in-memory state per post;
// FlushBatch renders each changed post once and writes every post's final
// state in one round trip, tag counts included (see posts_bulk.go). A
// rebuild replaying 50 edits per post thus writes and renders each post once
// per batch instead of 50 times.
type Posts struct {
	open batches[postsBatch]
}

// NewPosts returns the posts projection.
func NewPosts() *Posts { return &Posts{} }

// Name implements Projection.
func (*Posts) Name() string { return PostsName }

// Tables implements Projection.
func (*Posts) Tables() []string { return []string{"posts", "tags"} }

// StreamPrefixes implements Projection.
func (*Posts) StreamPrefixes() []string { return []string{domain.PostStreamPrefix} }

const sqlPostDrafted = `INSERT INTO posts (id, slug, title, body, body_html, excerpt, tags, status, author_id,
	version, revision, created_at, updated_at, last_position)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'draft', $8, $9, $10, $11, $11, $12)
ON CONFLICT (id) DO NOTHING`

// sqlPostContent replaces the content; when the post is published the tag
// counts move from the old tags to the new ones in the same statement.
const sqlPostContent = `WITH old AS (
	SELECT id, status, tags FROM posts WHERE id = $1 AND last_position < $2
), upd AS (
	UPDATE posts p SET title = $3, body = $4, body_html = $5, excerpt = $6, tags = $7,
		revision = $8, version = $9, updated_at = $10, last_position = $2
	FROM old WHERE p.id = old.id
), delta AS (
	SELECT t, sum(d)::int AS d FROM (
		SELECT DISTINCT unnest(old.tags) AS t, -1 AS d FROM old WHERE old.status = 'published'
		UNION ALL
		SELECT DISTINCT unnest($7::text[]), 1 FROM old WHERE old.status = 'published'
	) x GROUP BY t HAVING sum(d) <> 0
)
INSERT INTO tags (name, count) SELECT t, d FROM delta
ON CONFLICT (name) DO UPDATE SET count = tags.count + excluded.count`

// statusSQL builds the statement of a status change: set clause extra may
// use old.ts (argument $5, a timestamp or NULL); $3 is the new status. Tag counts
// follow the post into or out of the published status.
func statusSQL(extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return `WITH old AS (
	SELECT id, status, tags, $5::timestamptz AS ts FROM posts WHERE id = $1 AND last_position < $2
), upd AS (
	UPDATE posts p SET status = $3, version = $4, updated_at = $6, last_position = $2` + extra + `
	FROM old WHERE p.id = old.id
), delta AS (
	SELECT DISTINCT unnest(old.tags) AS t, CASE WHEN $3 = 'published' THEN 1 ELSE -1 END AS d
	FROM old WHERE (old.status = 'published') <> ($3::text = 'published')
)
INSERT INTO tags (name, count) SELECT t, d FROM delta
ON CONFLICT (name) DO UPDATE SET count = tags.count + excluded.count`
}

var (
	sqlPostStatus      = statusSQL("")
	sqlPostPublished   = statusSQL("published_at = old.ts, scheduled_for = NULL")
	sqlPostScheduled   = statusSQL("scheduled_for = old.ts")
	sqlPostUnpublished = statusSQL("published_at = NULL, scheduled_for = NULL")
	sqlPostDeleted     = statusSQL("deleted_at = old.ts")
	sqlPostRestored    = statusSQL(`deleted_at = NULL,
		published_at = CASE WHEN $3 IN ('published', 'archived') THEN p.published_at END,
		scheduled_for = CASE WHEN $3 = 'scheduled' THEN p.scheduled_for END`)
)

const sqlPostSlug = `UPDATE posts SET slug = $3, version = $4, updated_at = $5, last_position = $2
WHERE id = $1 AND last_position < $2`

// sqlPostFeature sets (or with an empty media id clears) the feature image.
const sqlPostFeature = `UPDATE posts SET feature_media_id = NULLIF($5, '')::uuid, feature_hash = $6, feature_alt = $7,
	version = $3, updated_at = $4, last_position = $2
WHERE id = $1 AND last_position < $2`

const sqlPostTouch = `UPDATE posts SET version = $3, updated_at = $4, last_position = $2
WHERE id = $1 AND last_position < $2`

// Apply implements Projection.
func (p *Posts) Apply(ctx context.Context, tx pgx.Tx, ev Event) error {
	if ev.Payload == nil {
		return fmt.Errorf("posts projection: event %s (%s) at %d: unknown event type", ev.ID, ev.Type, ev.Position)
	}
	id, err := postID(ev)
	if err != nil {
		return fmt.Errorf("posts projection: %w", err)
	}
	if batch := p.open.open(tx, ev); batch != nil {
		batch.fold(id, ev)
		return nil
	}
	pos, at, ver := int64(ev.Position), ev.OccurredAt(), int64(ev.Version)
	var sql string
	var args []any
	switch e := ev.Payload.(type) {
	case domain.PostDrafted:
		sql = sqlPostDrafted
		args = []any{id, e.Slug, e.Title, e.Body, RenderMarkdown(e.Body), e.Excerpt, nonNil(e.Tags), e.AuthorID,
			ver, revisionOr(e.Revision, 1), at, pos}
	case domain.PostEdited:
		sql, args = sqlPostContent, []any{id, pos, e.Title, e.Body, RenderMarkdown(e.Body), e.Excerpt, nonNil(e.Tags), e.Revision, ver, at}
	case domain.PostReverted:
		sql, args = sqlPostContent, []any{id, pos, e.Title, e.Body, RenderMarkdown(e.Body), e.Excerpt, nonNil(e.Tags), e.Revision, ver, at}
	case domain.PostSlugChanged:
		sql, args = sqlPostSlug, []any{id, pos, e.Slug, ver, at}
	case domain.PostSubmittedForReview:
		sql, args = sqlPostStatus, statusArgs(id, pos, domain.StatusInReview, ver, nil, at)
	case domain.PostChangesRequested:
		sql, args = sqlPostStatus, statusArgs(id, pos, domain.StatusDraft, ver, nil, at)
	case domain.PostPublished:
		sql, args = sqlPostPublished, statusArgs(id, pos, domain.StatusPublished, ver, publishedAt(e, at), at)
	case domain.PostScheduled:
		sql, args = sqlPostScheduled, statusArgs(id, pos, domain.StatusScheduled, ver, e.PublishAt.UTC(), at)
	case domain.PostUnpublished:
		sql, args = sqlPostUnpublished, statusArgs(id, pos, domain.StatusDraft, ver, nil, at)
	case domain.PostArchived:
		sql, args = sqlPostStatus, statusArgs(id, pos, domain.StatusArchived, ver, nil, at)
	case domain.PostDeleted:
		sql, args = sqlPostDeleted, statusArgs(id, pos, domain.StatusDeleted, ver, at, at)
	case domain.PostRestored:
		sql, args = sqlPostRestored, statusArgs(id, pos, restoredStatus(e), ver, nil, at)
	case domain.PostFeatureImageSet:
		sql, args = sqlPostFeature, []any{id, pos, ver, at, e.MediaID, e.Hash, e.Alt}
	default:
		// A post event this projection has no column for: keep version current.
		sql, args = sqlPostTouch, []any{id, pos, ver, at}
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("posts projection: apply %s at %d to post %s: %w", ev.Type, ev.Position, id, err)
	}
	return nil
}

// publishedAt is the publication time of e, defaulting to when it happened.
func publishedAt(e domain.PostPublished, at time.Time) time.Time {
	if e.PublishedAt.IsZero() {
		return at
	}
	return e.PublishedAt.UTC()
}

// restoredStatus is the status a PostRestored returns to (never deleted).
func restoredStatus(e domain.PostRestored) domain.PostStatus {
	if !e.Status.Valid() || e.Status == domain.StatusDeleted {
		return domain.StatusDraft
	}
	return e.Status
}

func statusArgs(id string, pos int64, status domain.PostStatus, ver int64, ts any, at time.Time) []any {
	return []any{id, pos, string(status), ver, ts, at}
}

// renderAll renders bodies, spread over two goroutines when there are many.
func renderAll(bodies []string) []string {
	out := make([]string, len(bodies))
	if len(bodies) < 8 {
		for i, b := range bodies {
			out[i] = RenderMarkdown(b)
		}
		return out
	}
	half := len(bodies) / 2
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := half; i < len(bodies); i++ {
			out[i] = RenderMarkdown(bodies[i])
		}
	}()
	for i := 0; i < half; i++ {
		out[i] = RenderMarkdown(bodies[i])
	}
	<-done
	return out
}

// postID returns the post id of a post-<uuid> stream.
func postID(ev Event) (string, error) {
	id, ok := strings.CutPrefix(ev.StreamID, domain.PostStreamPrefix)
	if !ok || len(id) != 36 {
		return "", fmt.Errorf("event %s: stream %q is not a post stream", ev.ID, ev.StreamID)
	}
	return id, nil
}

func nonNil(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}

func revisionOr(rev, def int) int {
	if rev > 0 {
		return rev
	}
	return def
}
