package projections

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/domain"
)

func TestHistoryRevisionsAndTimeline(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	l := newEventLog(t)
	id := uuid.NewString()
	s := "post-" + id
	evs := []Event{
		l.add(s, alice, domain.PostDrafted{PostID: id, AuthorID: alice.ID, Slug: "a", PostContent: content("One", "body one", "x"), Revision: 1}),
		l.add(s, alice, domain.PostEdited{PostContent: content("Two", "body two!", "x", "y"), Note: "fixed\n typo", Revision: 2}),
		l.add(s, editor, domain.PostSlugChanged{OldSlug: "a", Slug: "b"}),
		l.add(s, editor, domain.PostPublished{PublishedAt: l.now}),
		l.add(s, editor, domain.PostReverted{TargetRevision: 1, PostContent: content("One", "body one", "x"), Note: "back", Revision: 3}),
		l.add(s, domain.SystemActor, domain.PostScheduled{PublishAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}),
		l.add(s, editor, domain.PostChangesRequested{Comment: "needs work"}),
		l.add(s, editor, domain.PostUnpublished{}),
		l.add(s, editor, domain.PostDeleted{PreviousStatus: domain.StatusDraft}),
		l.add(s, editor, domain.PostRestored{Status: domain.StatusInReview}),
	}
	h := NewHistory()
	apply(t, pool, h, evs...)

	wantSummaries := []string{
		"Drafted (rev 1)",
		"Edited: fixed typo (rev 2)",
		"Slug changed from a to b",
		"Published",
		"Reverted to rev 1: back (rev 3)",
		"Scheduled for 2026-05-01T10:00:00Z",
		"Changes requested: needs work",
		"Unpublished",
		"Deleted",
		"Restored to in review",
	}
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT version, type, actor_id, actor_role, at, correlation_id, summary, event_id::text, position
		FROM post_history WHERE post_id = $1 ORDER BY version`, id)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var (
			version, position               int64
			typ, actor, role, corr, summary string
			eventID                         string
			at                              time.Time
		)
		if err := rows.Scan(&version, &typ, &actor, &role, &at, &corr, &summary, &eventID, &position); err != nil {
			t.Fatal(err)
		}
		ev := evs[i]
		if version != int64(ev.Version) || typ != ev.Type || actor != ev.Metadata.ActorID || role != string(ev.Metadata.ActorRole) ||
			!at.Equal(ev.Metadata.OccurredAt) || corr != ev.Metadata.CorrelationID || eventID != ev.ID.String() || position != int64(ev.Position) {
			t.Errorf("history row %d = %d %s %s %s %v %s %s %d, want event %+v", i, version, typ, actor, role, at, corr, eventID, position, ev)
		}
		if summary != wantSummaries[i] {
			t.Errorf("summary %d = %q, want %q", i, summary, wantSummaries[i])
		}
		i++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(evs) {
		t.Fatalf("%d history rows, want %d", i, len(evs))
	}

	type rev struct {
		revision, size int
		version        int64
		title, author  string
		editor, note   string
		kind           string
		from           *int
		tags           []string
	}
	rrows, err := pool.Query(ctx, `SELECT revision, size, version, title, author_id::text, editor_id, note, kind, reverted_from, tags
		FROM post_revisions WHERE post_id = $1 ORDER BY revision`, id)
	if err != nil {
		t.Fatal(err)
	}
	var revs []rev
	for rrows.Next() {
		var r rev
		if err := rrows.Scan(&r.revision, &r.size, &r.version, &r.title, &r.author, &r.editor, &r.note, &r.kind, &r.from, &r.tags); err != nil {
			t.Fatal(err)
		}
		revs = append(revs, r)
	}
	if err := rrows.Err(); err != nil {
		t.Fatal(err)
	}
	one := 1
	want := []rev{
		{revision: 1, size: 8, version: 1, title: "One", author: alice.ID, editor: alice.ID, kind: "drafted", tags: []string{"x"}},
		{revision: 2, size: 9, version: 2, title: "Two", author: alice.ID, editor: alice.ID, note: "fixed\n typo", kind: "edited", tags: []string{"x", "y"}},
		{revision: 3, size: 8, version: 5, title: "One", author: alice.ID, editor: editor.ID, note: "back", kind: "reverted", from: &one, tags: []string{"x"}},
	}
	if len(revs) != len(want) {
		t.Fatalf("%d revisions, want %d: %+v", len(revs), len(want), revs)
	}
	for i, w := range want {
		g := revs[i]
		if g.revision != w.revision || g.size != w.size || g.version != w.version || g.title != w.title || g.author != w.author ||
			g.editor != w.editor || g.note != w.note || g.kind != w.kind || (g.from == nil) != (w.from == nil) ||
			(g.from != nil && *g.from != *w.from) || len(g.tags) != len(w.tags) {
			t.Errorf("revision %d = %+v, want %+v", i+1, g, w)
		}
	}

	// Redelivery changes nothing.
	revSum, histSum := checksum(t, pool, "post_revisions", "x.post_id, x.revision"), checksum(t, pool, "post_history", "x.post_id, x.version")
	for _, ev := range evs {
		apply(t, pool, h, ev)
	}
	if checksum(t, pool, "post_revisions", "x.post_id, x.revision") != revSum || checksum(t, pool, "post_history", "x.post_id, x.version") != histSum {
		t.Error("post_revisions or post_history changed on redelivery")
	}
}

func TestSummaryIsOneLine(t *testing.T) {
	t.Parallel()
	long := ""
	for i := 0; i < 50; i++ {
		long += "word\nword "
	}
	tests := []struct {
		name string
		ev   domain.Event
		want string
	}{
		{"edit without note", domain.PostEdited{Revision: 4}, "Edited (rev 4)"},
		{"scheduled publish", domain.PostPublished{Scheduled: true}, "Published (scheduled)"},
		{"unpublish reason", domain.PostUnpublished{Reason: "  legal\r\nhold "}, "Unpublished: legal hold"},
		{"submitted", domain.PostSubmittedForReview{}, "Submitted for review"},
		{"archived", domain.PostArchived{}, "Archived"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summary(tt.ev); got != tt.want {
				t.Errorf("Summary = %q, want %q", got, tt.want)
			}
		})
	}
	got := Summary(domain.PostEdited{Note: long, Revision: 2})
	if len([]rune(got)) > maxSummaryText+20 {
		t.Errorf("summary not shortened: %d runes", len([]rune(got)))
	}
	for _, r := range got {
		if r == '\n' || r == '\r' {
			t.Fatalf("summary %q spans lines", got)
		}
	}
}
