package projections

import (
	"fmt"

	"github.com/google/uuid"
)

// BulkTables implements BulkLoader.
func (*History) BulkTables() []BulkTable {
	return []BulkTable{
		{Name: "post_revisions", Columns: []string{"post_id", "revision", "version", "title", "excerpt", "body", "tags",
			"author_id", "editor_id", "at", "note", "event_id", "position", "size", "kind", "reverted_from"}},
		{Name: "post_history", Columns: []string{"post_id", "version", "type", "actor_id", "actor_role", "at",
			"correlation_id", "causation_id", "summary", "event_id", "position"}},
	}
}

// NewBulkLoad implements BulkLoader: the rows Apply writes, with each post's
// author remembered from its PostDrafted instead of looked up in
// post_revisions.
func (*History) NewBulkLoad() BulkLoad { return &historyLoad{posts: map[uuid.UUID]*historyPost{}} }

const (
	historyRevisionsTable = iota
	historyTimelineTable
)

type historyLoad struct {
	posts map[uuid.UUID]*historyPost
	// Keys seen out of order: a repeated (post, revision) or (post, version)
	// that Apply's ON CONFLICT DO NOTHING would have skipped.
	repeatedRevision, repeatedVersion bool
}

// historyPost is what the load remembers of a post.
type historyPost struct {
	author            uuid.UUID
	hasAuthor         bool
	version, revision int64 // highest seen
}

func (l *historyLoad) Add(ev Event, w *BulkWriter) error {
	if ev.Payload == nil {
		return fmt.Errorf("post history projection: event %s (%s) at %d: unknown event type", ev.ID, ev.Type, ev.Position)
	}
	id, err := postID(ev)
	if err != nil {
		return fmt.Errorf("post history projection: %w", err)
	}
	pid, err := uuid.Parse(id)
	if err != nil {
		return fmt.Errorf("post history projection: event %s: post id %q: %w", ev.ID, id, err)
	}
	post := l.posts[pid]
	if post == nil {
		post = &historyPost{}
		l.posts[pid] = post
	}
	author := post.author
	snap, isRevision := snapshotOf(ev)
	if snap.kind == revisionDrafted {
		if author, err = uuid.Parse(snap.authorID); err != nil {
			return fmt.Errorf("post history projection: apply %s at %d to post %s: author id %q: %w", ev.Type, ev.Position, id, snap.authorID, err)
		}
		if !post.hasAuthor {
			// Later revisions take the author of the post's first one.
			post.author, post.hasAuthor = author, true
		}
	}
	m, at := ev.Metadata, ev.OccurredAt()
	if isRevision {
		if !post.hasAuthor {
			return fmt.Errorf("post history projection: apply %s at %d to post %s: no drafted revision to take the author from", ev.Type, ev.Position, id)
		}
		if int64(snap.rev) <= post.revision {
			l.repeatedRevision = true
		}
		post.revision = max(post.revision, int64(snap.rev))
		c := snap.content
		w.Row(historyRevisionsTable).UUID(pid).Int32(int32(snap.rev)).Int64(int64(ev.Version)).
			Text(c.Title).Text(c.Excerpt).Text(c.Body).TextArray(c.Tags).
			UUID(author).Text(m.ActorID).Time(at).Text(snap.note).UUID(ev.ID).Int64(int64(ev.Position)).
			Int32(int32(len(c.Body))).Text(snap.kind).NullInt32(snap.from)
	}
	if int64(ev.Version) <= post.version {
		l.repeatedVersion = true
	}
	post.version = max(post.version, int64(ev.Version))
	w.Row(historyTimelineTable).UUID(pid).Int64(int64(ev.Version)).Text(ev.Type).Text(m.ActorID).Text(string(m.ActorRole)).
		Time(at).Text(m.CorrelationID).Text(m.CausationID).Text(Summary(ev.Payload)).UUID(ev.ID).Int64(int64(ev.Position))
	return nil
}

// Finish keeps the first row (lowest position) of a repeated key, as Apply
// does; the log of a healthy store never repeats one.
func (l *historyLoad) Finish() []string {
	var out []string
	if l.repeatedRevision {
		out = append(out, `DELETE FROM post_revisions r USING post_revisions d
WHERE r.post_id = d.post_id AND r.revision = d.revision AND r.position > d.position`)
	}
	if l.repeatedVersion {
		out = append(out, `DELETE FROM post_history r USING post_history d
WHERE r.post_id = d.post_id AND r.version = d.version AND r.position > d.position`)
	}
	return out
}
