package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// HistoryName is the post history projection's versioned name.
//
// WARNING: the name is the projection's checkpoint key. Change the tables or
// semantics only under a new name (post_history_v2) and rebuild.
const HistoryName = "post_history_v1"

// History projects post streams into post_revisions (every content snapshot,
// markdown only) and post_history (a timeline entry with a one-line summary
// for every post event). Each event costs one statement; inside a batch (see
// Batcher) rows are buffered and FlushBatch writes them in one round trip.
type History struct {
	open batches[historyRows]
}

// historyRows holds buffered rows column by column.
type historyRows struct {
	// post_history
	postIDs, types, actors, roles, correlations, causations, summaries, eventIDs []string
	versions, positions                                                          []int64
	ats                                                                          []time.Time
	// post_revisions
	rPostIDs, rTitles, rExcerpts, rBodies, rTags, rEditors, rNotes, rEventIDs, rKinds []string
	rAuthors                                                                          []*string
	rRevisions, rSizes                                                                []int32
	rFrom                                                                             []*int32
	rVersions, rPositions                                                             []int64
	rAts                                                                              []time.Time
	authors                                                                           map[string]string // post id -> author, from PostDrafted in this batch
}

// NewHistory returns the post history projection.
func NewHistory() *History { return &History{} }

// Name implements Projection.
func (*History) Name() string { return HistoryName }

// Tables implements Projection.
func (*History) Tables() []string { return []string{"post_revisions", "post_history"} }

// StreamPrefixes implements Projection.
func (*History) StreamPrefixes() []string { return []string{domain.PostStreamPrefix} }

const sqlHistory = `INSERT INTO post_history (post_id, version, type, actor_id, actor_role, at,
	correlation_id, causation_id, summary, event_id, position)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (post_id, version) DO NOTHING`

// sqlRevision inserts the snapshot and the timeline entry in one statement.
// The post's author comes from the payload ($12, drafted) or revision 1.
const sqlRevision = `WITH rev AS (
	INSERT INTO post_revisions (post_id, revision, version, title, excerpt, body, tags, author_id,
		editor_id, at, note, event_id, position, size, kind, reverted_from)
	VALUES ($1, $13, $2, $14, $15, $16, $17,
		coalesce($12::uuid, (SELECT author_id FROM post_revisions WHERE post_id = $1 ORDER BY revision LIMIT 1)),
		$4, $6, $18, $10, $11, $19, $20, $21)
	ON CONFLICT (post_id, revision) DO NOTHING
)
` + sqlHistory

const sqlHistoryBulk = `INSERT INTO post_history (post_id, version, type, actor_id, actor_role, at,
	correlation_id, causation_id, summary, event_id, position)
SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
	$7::text[], $8::text[], $9::text[], $10::uuid[], $11::bigint[])
ON CONFLICT (post_id, version) DO NOTHING`

const sqlRevisionBulk = `INSERT INTO post_revisions (post_id, revision, version, title, excerpt, body, tags, author_id,
	editor_id, at, note, event_id, position, size, kind, reverted_from)
SELECT v.post_id, v.revision, v.version, v.title, v.excerpt, v.body, ARRAY(SELECT jsonb_array_elements_text(v.tags::jsonb)),
	coalesce(v.author_id::uuid, (SELECT r.author_id FROM post_revisions r WHERE r.post_id = v.post_id ORDER BY r.revision LIMIT 1)),
	v.editor_id, v.at, v.note, v.event_id, v.position, v.size, v.kind, v.reverted_from
FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::text[], $10::timestamptz[], $11::text[], $12::uuid[], $13::bigint[], $14::int[], $15::text[], $16::int[])
	AS v(post_id, revision, version, title, excerpt, body, tags, author_id, editor_id, at, note, event_id, position, size, kind, reverted_from)
ON CONFLICT (post_id, revision) DO NOTHING`

// Revision kinds stored in post_revisions.kind.
const (
	revisionDrafted  = "drafted"
	revisionEdited   = "edited"
	revisionReverted = "reverted"
)

// revisionSnapshot is the content snapshot an event records in
// post_revisions.
type revisionSnapshot struct {
	content  domain.PostContent
	rev      int
	note     string
	kind     string
	from     *int32 // reverted: the revision it restored
	authorID string // drafted: the post's author
}

// snapshotOf returns the snapshot ev records, and false for events that
// record none. Apply and the rebuild's bulk load (historyLoad) share it.
func snapshotOf(ev Event) (revisionSnapshot, bool) {
	switch e := ev.Payload.(type) {
	case domain.PostDrafted:
		return revisionSnapshot{content: e.PostContent, rev: revisionOr(e.Revision, 1), kind: revisionDrafted, authorID: e.AuthorID}, true
	case domain.PostEdited:
		return revisionSnapshot{content: e.PostContent, rev: e.Revision, note: e.Note, kind: revisionEdited}, true
	case domain.PostReverted:
		target := int32(e.TargetRevision)
		return revisionSnapshot{content: e.PostContent, rev: e.Revision, note: e.Note, kind: revisionReverted, from: &target}, true
	}
	return revisionSnapshot{}, false
}

// Apply implements Projection.
func (h *History) Apply(ctx context.Context, tx pgx.Tx, ev Event) error {
	if ev.Payload == nil {
		return fmt.Errorf("post history projection: event %s (%s) at %d: unknown event type", ev.ID, ev.Type, ev.Position)
	}
	id, err := postID(ev)
	if err != nil {
		return fmt.Errorf("post history projection: %w", err)
	}
	m := ev.Metadata
	args := []any{id, int64(ev.Version), ev.Type, m.ActorID, string(m.ActorRole), ev.OccurredAt(),
		m.CorrelationID, m.CausationID, Summary(ev.Payload), ev.ID, int64(ev.Position)}
	sql := sqlHistory
	snap, isRevision := snapshotOf(ev)
	var author *string // only a post's first revision names it
	if snap.kind == revisionDrafted {
		author = &snap.authorID
	}
	if b := h.open.open(tx, ev); b != nil {
		b.add(id, ev, Summary(ev.Payload))
		if isRevision {
			b.addRevision(id, ev, author, snap.content, snap.rev, snap.note, snap.kind, snap.from)
		}
		return nil
	}
	if isRevision {
		c := snap.content
		sql = sqlRevision
		args = append(args, author, snap.rev, c.Title, c.Excerpt, c.Body, nonNil(c.Tags),
			snap.note, len(c.Body), snap.kind, snap.from)
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("post history projection: apply %s at %d to post %s: %w", ev.Type, ev.Position, id, err)
	}
	return nil
}

func (b *historyRows) add(id string, ev Event, summary string) {
	m := ev.Metadata
	b.postIDs, b.versions, b.types = append(b.postIDs, id), append(b.versions, int64(ev.Version)), append(b.types, ev.Type)
	b.actors, b.roles, b.ats = append(b.actors, m.ActorID), append(b.roles, string(m.ActorRole)), append(b.ats, ev.OccurredAt())
	b.correlations, b.causations = append(b.correlations, m.CorrelationID), append(b.causations, m.CausationID)
	b.summaries, b.eventIDs, b.positions = append(b.summaries, summary), append(b.eventIDs, ev.ID.String()), append(b.positions, int64(ev.Position))
}

func (b *historyRows) addRevision(id string, ev Event, author *string, c domain.PostContent, rev int, note, kind string, from *int32) {
	if author != nil {
		if b.authors == nil {
			b.authors = map[string]string{}
		}
		b.authors[id] = *author
	} else if a, ok := b.authors[id]; ok {
		author = &a
	}
	tags, _ := json.Marshal(nonNil(c.Tags)) // []string always marshals
	b.rPostIDs, b.rRevisions, b.rVersions = append(b.rPostIDs, id), append(b.rRevisions, int32(rev)), append(b.rVersions, int64(ev.Version))
	b.rTitles, b.rExcerpts, b.rBodies, b.rTags = append(b.rTitles, c.Title), append(b.rExcerpts, c.Excerpt), append(b.rBodies, c.Body), append(b.rTags, string(tags))
	b.rAuthors, b.rEditors, b.rAts, b.rNotes = append(b.rAuthors, author), append(b.rEditors, ev.Metadata.ActorID), append(b.rAts, ev.OccurredAt()), append(b.rNotes, note)
	b.rEventIDs, b.rPositions, b.rSizes = append(b.rEventIDs, ev.ID.String()), append(b.rPositions, int64(ev.Position)), append(b.rSizes, int32(len(c.Body)))
	b.rKinds, b.rFrom = append(b.rKinds, kind), append(b.rFrom, from)
}

// BeginBatch implements Batcher.
func (h *History) BeginBatch(_ context.Context, tx pgx.Tx) error {
	h.open.begin(tx)
	return nil
}

// FlushBatch implements Batcher: the batch's revisions and timeline entries
// in one round trip.
func (h *History) FlushBatch(ctx context.Context, tx pgx.Tx) error {
	b := h.open.end(tx)
	if b == nil || len(b.postIDs) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	if len(b.rPostIDs) > 0 {
		batch.Queue(sqlRevisionBulk, b.rPostIDs, b.rRevisions, b.rVersions, b.rTitles, b.rExcerpts, b.rBodies, b.rTags, b.rAuthors,
			b.rEditors, b.rAts, b.rNotes, b.rEventIDs, b.rPositions, b.rSizes, b.rKinds, b.rFrom)
	}
	batch.Queue(sqlHistoryBulk, b.postIDs, b.versions, b.types, b.actors, b.roles, b.ats, b.correlations, b.causations,
		b.summaries, b.eventIDs, b.positions)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("post history projection: write %d events: %w", len(b.postIDs), err)
	}
	return nil
}

// Summary returns the one-line timeline summary of a post event, e.g.
// "Edited: fixed typo (rev 3)", "Published", "Slug changed from a to b".
func Summary(e domain.Event) string {
	switch e := e.(type) {
	case domain.PostDrafted:
		return "Drafted (rev " + strconv.Itoa(revisionOr(e.Revision, 1)) + ")"
	case domain.PostEdited:
		return "Edited" + withText(e.Note) + " (rev " + strconv.Itoa(e.Revision) + ")"
	case domain.PostReverted:
		return "Reverted to rev " + strconv.Itoa(e.TargetRevision) + withText(e.Note) + " (rev " + strconv.Itoa(e.Revision) + ")"
	case domain.PostSlugChanged:
		return "Slug changed from " + e.OldSlug + " to " + e.Slug
	case domain.PostSubmittedForReview:
		return "Submitted for review"
	case domain.PostChangesRequested:
		return "Changes requested" + withText(e.Comment)
	case domain.PostPublished:
		if e.Scheduled {
			return "Published (scheduled)"
		}
		return "Published"
	case domain.PostScheduled:
		return "Scheduled for " + e.PublishAt.UTC().Format(time.RFC3339)
	case domain.PostUnpublished:
		return "Unpublished" + withText(e.Reason)
	case domain.PostArchived:
		return "Archived"
	case domain.PostDeleted:
		return "Deleted"
	case domain.PostRestored:
		return "Restored to " + strings.ReplaceAll(string(e.Status), "_", " ")
	case nil:
		return ""
	}
	return e.EventType()
}

// maxSummaryText bounds the free text (notes, comments) quoted in a summary.
const maxSummaryText = 160

// withText returns ": text" flattened to one line and shortened, or "" for
// empty text.
func withText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	if utf8.RuneCountInString(s) > maxSummaryText {
		r := []rune(s)
		s = strings.TrimSpace(string(r[:maxSummaryText-1])) + "…"
	}
	return ": " + s
}
