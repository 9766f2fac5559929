package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// postsBatch folds a batch's events into one final state per post.
type postsBatch struct {
	posts map[string]*postState
	order []string // first-seen order, so flushes are deterministic
}

// postState is what a batch's events did to one post. Fields a batch did not
// touch keep their stored values; the timestamps distinguish "keep" (set
// false) from "set" (possibly to NULL).
type postState struct {
	pos, ver int64
	at       time.Time
	// drafted: the post was drafted in this batch and every field is set.
	drafted   bool
	author    string
	createdAt time.Time

	hasContent bool
	revision   int
	content    domain.PostContent

	slug, status                  *string
	published, scheduled, deleted optTime
	// feature is the last feature image set in the batch, if any.
	feature *domain.PostFeatureImageSet
}

// optTime is a timestamp column a batch may leave alone or set (to nil: NULL).
type optTime struct {
	set bool
	v   *time.Time
}

func setTime(t time.Time) optTime { return optTime{set: true, v: &t} }

var clearTime = optTime{set: true}

func strp(s string) *string { return &s }

// fold applies ev to the batch's state of post id, mirroring the statements
// of the direct path.
func (b *postsBatch) fold(id string, ev Event) {
	if b.posts == nil {
		b.posts = map[string]*postState{}
	}
	st := b.posts[id]
	if st == nil {
		st = &postState{}
		b.posts[id] = st
		b.order = append(b.order, id)
	}
	at := ev.OccurredAt()
	st.pos, st.ver, st.at = int64(ev.Position), int64(ev.Version), at
	switch e := ev.Payload.(type) {
	case domain.PostDrafted:
		*st = postState{pos: st.pos, ver: st.ver, at: at, drafted: true, author: e.AuthorID, createdAt: at,
			hasContent: true, revision: revisionOr(e.Revision, 1), content: e.PostContent,
			slug: strp(e.Slug), status: strp(string(domain.StatusDraft)), published: clearTime, scheduled: clearTime, deleted: clearTime}
	case domain.PostEdited:
		st.hasContent, st.revision, st.content = true, e.Revision, e.PostContent
	case domain.PostReverted:
		st.hasContent, st.revision, st.content = true, e.Revision, e.PostContent
	case domain.PostSlugChanged:
		st.slug = strp(e.Slug)
	case domain.PostSubmittedForReview:
		st.status = strp(string(domain.StatusInReview))
	case domain.PostChangesRequested:
		st.status = strp(string(domain.StatusDraft))
	case domain.PostPublished:
		st.status, st.published, st.scheduled = strp(string(domain.StatusPublished)), setTime(publishedAt(e, at)), clearTime
	case domain.PostScheduled:
		st.status, st.scheduled = strp(string(domain.StatusScheduled)), setTime(e.PublishAt.UTC())
	case domain.PostUnpublished:
		st.status, st.published, st.scheduled = strp(string(domain.StatusDraft)), clearTime, clearTime
	case domain.PostArchived:
		st.status = strp(string(domain.StatusArchived))
	case domain.PostDeleted:
		st.status, st.deleted = strp(string(domain.StatusDeleted)), setTime(at)
	case domain.PostFeatureImageSet:
		st.feature = &e
	case domain.PostRestored:
		s := restoredStatus(e)
		st.status, st.deleted = strp(string(s)), clearTime
		if s != domain.StatusPublished && s != domain.StatusArchived {
			st.published = clearTime
		}
		if s != domain.StatusScheduled {
			st.scheduled = clearTime
		}
	}
}

// sqlPostsInsertBulk inserts the posts drafted in a batch in their final
// state and counts the tags of those already published.
const sqlPostsInsertBulk = `WITH v AS (
	SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::uuid[], $10::bigint[], $11::int[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::timestamptz[],
		$16::timestamptz[], $17::bigint[])
	AS v(id, slug, title, body, body_html, excerpt, tags, status, author_id, version, revision, created_at, updated_at,
		published_at, scheduled_for, deleted_at, position)
), ins AS (
	INSERT INTO posts (id, slug, title, body, body_html, excerpt, tags, status, author_id, version, revision,
		created_at, updated_at, published_at, scheduled_for, deleted_at, last_position)
	SELECT id, slug, title, body, body_html, excerpt, ARRAY(SELECT jsonb_array_elements_text(v.tags::jsonb)), status,
		author_id, version, revision, created_at, updated_at, published_at, scheduled_for, deleted_at, position
	FROM v
	ON CONFLICT (id) DO NOTHING
	RETURNING id, status, tags
), delta AS (
	SELECT t, count(*)::int AS d FROM (SELECT DISTINCT id, unnest(tags) AS t FROM ins WHERE status = 'published') x GROUP BY t
)
INSERT INTO tags (name, count) SELECT t, d FROM delta
ON CONFLICT (name) DO UPDATE SET count = tags.count + excluded.count`

// sqlPostsUpdateBulk writes the final state of every stored post a batch
// touched (posts drafted in the batch are not stored yet, unless the batch is
// a redelivery) and moves the tag counts from each post's stored state to its
// new one.
const sqlPostsUpdateBulk = `WITH v AS (
	SELECT v.*, ARRAY(SELECT jsonb_array_elements_text(v.tags_json::jsonb)) AS tags FROM unnest(
		$1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::bool[], $6::int[], $7::text[], $8::text[], $9::text[],
		$10::text[], $11::text[], $12::text[], $13::text[], $14::bool[], $15::timestamptz[], $16::bool[], $17::timestamptz[],
		$18::bool[], $19::timestamptz[])
	AS v(id, position, version, updated_at, has_content, revision, title, body, body_html, excerpt, tags_json, slug, status,
		published_set, published_at, scheduled_set, scheduled_for, deleted_set, deleted_at)
), old AS (
	SELECT p.id, p.status, p.tags FROM posts p JOIN v ON v.id = p.id WHERE p.last_position < v.position
), upd AS (
	UPDATE posts p SET
		title = CASE WHEN v.has_content THEN v.title ELSE p.title END,
		body = CASE WHEN v.has_content THEN v.body ELSE p.body END,
		body_html = CASE WHEN v.has_content THEN v.body_html ELSE p.body_html END,
		excerpt = CASE WHEN v.has_content THEN v.excerpt ELSE p.excerpt END,
		tags = CASE WHEN v.has_content THEN v.tags ELSE p.tags END,
		revision = CASE WHEN v.has_content THEN v.revision ELSE p.revision END,
		slug = coalesce(v.slug, p.slug),
		status = coalesce(v.status, p.status),
		published_at = CASE WHEN v.published_set THEN v.published_at ELSE p.published_at END,
		scheduled_for = CASE WHEN v.scheduled_set THEN v.scheduled_for ELSE p.scheduled_for END,
		deleted_at = CASE WHEN v.deleted_set THEN v.deleted_at ELSE p.deleted_at END,
		version = v.version, updated_at = v.updated_at, last_position = v.position
	FROM v JOIN old o ON o.id = v.id WHERE p.id = v.id
	RETURNING p.id, p.status, p.tags
), delta AS (
	SELECT t, sum(d)::int AS d FROM (
		SELECT DISTINCT o.id, unnest(o.tags) AS t, -1 AS d FROM old o WHERE o.status = 'published'
		UNION ALL
		SELECT DISTINCT u.id, unnest(u.tags), 1 FROM upd u WHERE u.status = 'published'
	) x GROUP BY t HAVING sum(d) <> 0
)
INSERT INTO tags (name, count) SELECT t, d FROM delta
ON CONFLICT (name) DO UPDATE SET count = tags.count + excluded.count`

// sqlPostsFeatureBulk writes the feature images a batch set. It runs after
// the update and insert statements, on the rows they left at the batch's
// final position of each post (a post already past it is newer; the same
// position again is a redelivery and gets the same values).
const sqlPostsFeatureBulk = `UPDATE posts p SET feature_media_id = NULLIF(v.media_id, '')::uuid, feature_hash = v.hash, feature_alt = v.alt
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[]) AS v(id, position, media_id, hash, alt)
WHERE p.id = v.id AND p.last_position = v.position`

// batchesInMemory marks Posts as a memoryBatcher: inside a batch, Apply
// only folds.
func (*Posts) batchesInMemory() {}

// BeginBatch implements Batcher.
func (p *Posts) BeginBatch(_ context.Context, tx pgx.Tx) error {
	p.open.begin(tx)
	return nil
}

// FlushBatch implements Batcher: it renders each post whose content the
// batch changed once, then updates the stored posts and inserts the posts
// drafted in the batch, in one round trip.
func (p *Posts) FlushBatch(ctx context.Context, tx pgx.Tx) error {
	b := p.open.end(tx)
	if b == nil || len(b.order) == 0 {
		return nil
	}
	var bodies []string
	for _, id := range b.order {
		if st := b.posts[id]; st.hasContent {
			bodies = append(bodies, st.content.Body)
		}
	}
	html := renderAll(bodies)
	n := len(b.order)
	var (
		// update arrays
		ids, titles, uBodies, uHTML, excerpts, tags = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]*string, 0, n), make([]string, 0, n), make([]string, 0, n)
		positions, versions                         = make([]int64, 0, n), make([]int64, 0, n)
		ats                                         = make([]time.Time, 0, n)
		hasContent                                  = make([]bool, 0, n)
		revisions                                   = make([]int32, 0, n)
		slugs, statuses                             = make([]*string, 0, n), make([]*string, 0, n)
		pubSet, schedSet, delSet                    = make([]bool, 0, n), make([]bool, 0, n), make([]bool, 0, n)
		pubs, scheds, dels                          = make([]*time.Time, 0, n), make([]*time.Time, 0, n), make([]*time.Time, 0, n)
		// insert arrays (posts drafted in the batch)
		ins = &pgx.Batch{} // both statements
		di  []int          // indexes into the update arrays of drafted posts
	)
	h := 0
	for i, id := range b.order {
		st := b.posts[id]
		var page *string
		if st.hasContent {
			page = &html[h]
			h++
		}
		t, _ := json.Marshal(nonNil(st.content.Tags)) // []string always marshals
		ids, titles, uBodies, uHTML, excerpts, tags = append(ids, id), append(titles, st.content.Title), append(uBodies, st.content.Body),
			append(uHTML, page), append(excerpts, st.content.Excerpt), append(tags, string(t))
		positions, versions, ats, hasContent, revisions = append(positions, st.pos), append(versions, st.ver), append(ats, st.at),
			append(hasContent, st.hasContent), append(revisions, int32(st.revision))
		slugs, statuses = append(slugs, st.slug), append(statuses, st.status)
		pubSet, schedSet, delSet = append(pubSet, st.published.set), append(schedSet, st.scheduled.set), append(delSet, st.deleted.set)
		pubs, scheds, dels = append(pubs, st.published.v), append(scheds, st.scheduled.v), append(dels, st.deleted.v)
		if st.drafted {
			di = append(di, i)
		}
	}
	// Updates first: a slug released by a post's change may be taken by a
	// post drafted later in the same batch. (Two posts swapping slugs within
	// one batch fail the unique index; the runtime then re-runs the batch
	// event by event, which handles it.)
	ins.Queue(sqlPostsUpdateBulk, ids, positions, versions, ats, hasContent, revisions, titles, uBodies, uHTML, excerpts, tags,
		slugs, statuses, pubSet, pubs, schedSet, scheds, delSet, dels)
	if len(di) > 0 {
		k := len(di)
		var (
			dIDs, dSlugs, dTitles, dBodies, dHTML, dExcerpts, dTags, dStatus, dAuthors = make([]string, k), make([]string, k), make([]string, k), make([]string, k), make([]string, k), make([]string, k), make([]string, k), make([]string, k), make([]string, k)
			dVers, dPos                                                                = make([]int64, k), make([]int64, k)
			dRevs                                                                      = make([]int32, k)
			dCreated, dUpdated                                                         = make([]time.Time, k), make([]time.Time, k)
			dPub, dSched, dDel                                                         = make([]*time.Time, k), make([]*time.Time, k), make([]*time.Time, k)
		)
		for j, i := range di {
			st := b.posts[ids[i]]
			dIDs[j], dSlugs[j], dTitles[j], dBodies[j], dHTML[j] = ids[i], *slugs[i], titles[i], uBodies[i], *uHTML[i]
			dExcerpts[j], dTags[j], dStatus[j], dAuthors[j] = excerpts[i], tags[i], *statuses[i], st.author
			dVers[j], dPos[j], dRevs[j], dCreated[j], dUpdated[j] = versions[i], positions[i], revisions[i], st.createdAt, ats[i]
			dPub[j], dSched[j], dDel[j] = pubs[i], scheds[i], dels[i]
		}
		ins.Queue(sqlPostsInsertBulk, dIDs, dSlugs, dTitles, dBodies, dHTML, dExcerpts, dTags, dStatus, dAuthors, dVers, dRevs,
			dCreated, dUpdated, dPub, dSched, dDel, dPos)
	}
	var fIDs, fMedia, fHashes, fAlts []string
	var fPos []int64
	for _, id := range b.order {
		if st := b.posts[id]; st.feature != nil {
			fIDs, fPos = append(fIDs, id), append(fPos, st.pos)
			fMedia, fHashes, fAlts = append(fMedia, st.feature.MediaID), append(fHashes, st.feature.Hash), append(fAlts, st.feature.Alt)
		}
	}
	if len(fIDs) > 0 {
		ins.Queue(sqlPostsFeatureBulk, fIDs, fPos, fMedia, fHashes, fAlts)
	}
	if err := tx.SendBatch(ctx, ins).Close(); err != nil {
		return fmt.Errorf("posts projection: write %d posts of the batch: %w", n, err)
	}
	return nil
}
