package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

// newReadDB returns a fresh database with the read-model tables of
// postgres/migrations/0002_read_models.sql.
func newReadDB(t *testing.T) *pgxpool.Pool { return newReadDBB(t) }

func newReadDBB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, _ := pgtest.NewPool(t)
	// The read models of All(): 0002, the media tables (0004), the media
	// columns of posts and users (0005) and post_search (0006, which starts
	// search_v1's checkpoint from 0001's table).
	for _, f := range []string{"0001_projection_runtime.sql", "0002_read_models.sql", "0004_media.sql", "0005_feature_images.sql",
		"0006_post_search.sql", "0007_move_checkpoint.sql"} {
		sql, err := os.ReadFile("../postgres/migrations/" + f)
		if err != nil {
			t.Fatalf("read migration: %v", err)
		}
		if _, err := pool.Exec(context.Background(), string(sql)); err != nil {
			t.Fatalf("apply migration %s: %v", f, err)
		}
	}
	return pool
}

// eventLog builds decoded events the way the runtime hands them over: encoded
// with domain.EncodeEvent, stored as RecordedEvents and run through Decode.
type eventLog struct {
	t        *testing.T
	pos      uint64
	now      time.Time
	versions map[string]uint64
	events   []Event
}

func newEventLog(t *testing.T) *eventLog {
	return &eventLog{t: t, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), versions: map[string]uint64{}}
}

// add appends payload to stream as actor, one minute after the previous event.
func (l *eventLog) add(stream string, actor domain.Actor, payload domain.Event) Event {
	l.t.Helper()
	data, schema, err := domain.EncodeEvent(payload)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.addRaw(stream, actor, payload.EventType(), schema, data)
}

func (l *eventLog) addRaw(stream string, actor domain.Actor, typ string, schema int, data []byte) Event {
	l.t.Helper()
	l.pos++
	l.now = l.now.Add(time.Minute)
	l.versions[stream]++
	meta, err := json.Marshal(domain.Metadata{ActorID: actor.ID, ActorRole: actor.Role, CorrelationID: "req-" + uuid.NewString()[:8],
		CausationID: "cause", OccurredAt: l.now, Schema: schema})
	if err != nil {
		l.t.Fatal(err)
	}
	ev, err := Decode(eventstore.RecordedEvent{ID: uuid.New(), StreamID: stream, Version: l.versions[stream],
		Position: eventstore.Position(l.pos), Type: typ, Data: data, Metadata: meta, RecordedAt: l.now.Add(time.Millisecond)})
	if err != nil {
		l.t.Fatal(err)
	}
	l.events = append(l.events, ev)
	return ev
}

// apply applies evs to p in one transaction, as one batch when p is a Batcher.
func apply(t *testing.T, pool *pgxpool.Pool, p Projection, evs ...Event) {
	t.Helper()
	if err := applyErr(pool, p, evs...); err != nil {
		t.Fatal(err)
	}
}

func applyErr(pool *pgxpool.Pool, p Projection, evs ...Event) error {
	ctx := context.Background()
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		b, batched := p.(Batcher)
		if batched {
			if err := b.BeginBatch(ctx, tx); err != nil {
				return err
			}
		}
		for _, ev := range evs {
			if err := p.Apply(ctx, tx, ev); err != nil {
				return err
			}
		}
		if batched {
			return b.FlushBatch(ctx, tx)
		}
		return nil
	})
}

// applyEach applies evs to p one transaction per event, without batches.
func applyEach(t *testing.T, pool *pgxpool.Pool, p Projection, evs ...Event) {
	t.Helper()
	ctx := context.Background()
	for _, ev := range evs {
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return p.Apply(ctx, tx, ev) }); err != nil {
			t.Fatal(err)
		}
	}
}

// liveTags is the tags table without rows whose count fell to zero: the
// finder hides those, and whether such a row exists depends on batching.
const liveTags = "(SELECT * FROM tags WHERE count <> 0)"

// checksum returns a digest of every row of table in key order.
func checksum(t *testing.T, pool *pgxpool.Pool, table, orderBy string) string {
	t.Helper()
	var sum string
	if err := pool.QueryRow(context.Background(),
		"SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY "+orderBy+")), '') FROM "+table+" x").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

var (
	alice  = domain.Actor{ID: "11111111-1111-4111-8111-111111111111", Role: domain.RoleAuthor}
	editor = domain.Actor{ID: "22222222-2222-4222-8222-222222222222", Role: domain.RoleEditor}
)

type postRow struct {
	Slug, Title, Body, Excerpt, Status, AuthorID string
	BodyHTML                                     *string
	Tags                                         []string
	Version                                      int64
	Revision                                     int
	PublishedAt, ScheduledFor, DeletedAt         *time.Time
	UpdatedAt                                    time.Time
}

func readPost(t *testing.T, pool *pgxpool.Pool, id string) postRow {
	t.Helper()
	var r postRow
	err := pool.QueryRow(context.Background(), `SELECT slug, title, body, excerpt, status, author_id::text, body_html, tags,
		version, revision, published_at, scheduled_for, deleted_at, updated_at FROM posts WHERE id = $1`, id).
		Scan(&r.Slug, &r.Title, &r.Body, &r.Excerpt, &r.Status, &r.AuthorID, &r.BodyHTML, &r.Tags,
			&r.Version, &r.Revision, &r.PublishedAt, &r.ScheduledFor, &r.DeletedAt, &r.UpdatedAt)
	if err != nil {
		t.Fatalf("read post %s: %v", id, err)
	}
	return r
}

func tagCounts(t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT name, count FROM tags WHERE count <> 0")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var n string
		var c int
		if err := rows.Scan(&n, &c); err != nil {
			t.Fatal(err)
		}
		got[n] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func content(title, body string, tags ...string) domain.PostContent {
	return domain.PostContent{Title: title, Body: body, Excerpt: "About " + title, Tags: tags}
}

func TestPostsLifecycle(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	l := newEventLog(t)
	id := uuid.NewString()
	s := "post-" + id
	other := uuid.NewString()
	publishedAt := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	scheduleAt := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)

	type want struct {
		status, slug, title string
		revision            int
		published           bool
		scheduled           bool
		deleted             bool
		tags                map[string]int
	}
	steps := []struct {
		name  string
		event func() Event
		want  want
	}{
		{"drafted", func() Event {
			return l.add(s, alice, domain.PostDrafted{PostID: id, AuthorID: alice.ID, Slug: "hello", PostContent: content("Hello", "# Hi\n\nfirst", "go", "cms"), Revision: 1})
		}, want{status: "draft", slug: "hello", title: "Hello", revision: 1, tags: map[string]int{}}},
		{"other post published", func() Event {
			apply(t, pool, NewPosts(), l.add("post-"+other, alice, domain.PostDrafted{PostID: other, AuthorID: alice.ID, Slug: "other", PostContent: content("Other", "x", "go"), Revision: 1}))
			return l.add("post-"+other, editor, domain.PostPublished{PublishedAt: publishedAt})
		}, want{status: "draft", slug: "hello", title: "Hello", revision: 1, tags: map[string]int{"go": 1}}},
		{"edited", func() Event {
			return l.add(s, alice, domain.PostEdited{PostContent: content("Hello again", "second *body*", "go", "cms"), Note: "typo", Revision: 2})
		}, want{status: "draft", slug: "hello", title: "Hello again", revision: 2, tags: map[string]int{"go": 1}}},
		{"submitted", func() Event { return l.add(s, alice, domain.PostSubmittedForReview{}) },
			want{status: "in_review", slug: "hello", title: "Hello again", revision: 2, tags: map[string]int{"go": 1}}},
		{"changes requested", func() Event { return l.add(s, editor, domain.PostChangesRequested{Comment: "more"}) },
			want{status: "draft", slug: "hello", title: "Hello again", revision: 2, tags: map[string]int{"go": 1}}},
		{"slug changed", func() Event { return l.add(s, alice, domain.PostSlugChanged{OldSlug: "hello", Slug: "hello-world"}) },
			want{status: "draft", slug: "hello-world", title: "Hello again", revision: 2, tags: map[string]int{"go": 1}}},
		{"published", func() Event { return l.add(s, editor, domain.PostPublished{PublishedAt: publishedAt}) },
			want{status: "published", slug: "hello-world", title: "Hello again", revision: 2, published: true, tags: map[string]int{"go": 2, "cms": 1}}},
		{"edited while published moves tag counts", func() Event {
			return l.add(s, editor, domain.PostEdited{PostContent: content("Hello 3", "third", "go", "news"), Revision: 3})
		}, want{status: "published", slug: "hello-world", title: "Hello 3", revision: 3, published: true, tags: map[string]int{"go": 2, "news": 1}}},
		{"unpublished", func() Event { return l.add(s, editor, domain.PostUnpublished{Reason: "oops"}) },
			want{status: "draft", slug: "hello-world", title: "Hello 3", revision: 3, tags: map[string]int{"go": 1}}},
		{"scheduled", func() Event { return l.add(s, editor, domain.PostScheduled{PublishAt: scheduleAt}) },
			want{status: "scheduled", slug: "hello-world", title: "Hello 3", revision: 3, scheduled: true, tags: map[string]int{"go": 1}}},
		{"published by scheduler", func() Event {
			return l.add(s, domain.SystemActor, domain.PostPublished{PublishedAt: publishedAt, Scheduled: true})
		}, want{status: "published", slug: "hello-world", title: "Hello 3", revision: 3, published: true, tags: map[string]int{"go": 2, "news": 1}}},
		{"reverted", func() Event {
			return l.add(s, editor, domain.PostReverted{TargetRevision: 1, PostContent: content("Hello", "# Hi\n\nfirst", "go", "cms"), Revision: 4})
		}, want{status: "published", slug: "hello-world", title: "Hello", revision: 4, published: true, tags: map[string]int{"go": 2, "cms": 1}}},
		{"archived", func() Event { return l.add(s, editor, domain.PostArchived{PreviousStatus: domain.StatusPublished}) },
			want{status: "archived", slug: "hello-world", title: "Hello", revision: 4, published: true, tags: map[string]int{"go": 1}}},
		{"deleted", func() Event { return l.add(s, editor, domain.PostDeleted{PreviousStatus: domain.StatusArchived}) },
			want{status: "deleted", slug: "hello-world", title: "Hello", revision: 4, published: true, deleted: true, tags: map[string]int{"go": 1}}},
		{"restored", func() Event { return l.add(s, editor, domain.PostRestored{Status: domain.StatusArchived}) },
			want{status: "archived", slug: "hello-world", title: "Hello", revision: 4, published: true, tags: map[string]int{"go": 1}}},
		{"restored again to draft", func() Event { return l.add(s, editor, domain.PostRestored{Status: domain.StatusDraft}) },
			want{status: "draft", slug: "hello-world", title: "Hello", revision: 4, tags: map[string]int{"go": 1}}},
	}
	p := NewPosts()
	for _, st := range steps {
		ev := st.event()
		apply(t, pool, p, ev)
		got := readPost(t, pool, id)
		w := st.want
		if got.Status != w.status || got.Slug != w.slug || got.Title != w.title || got.Revision != w.revision {
			t.Fatalf("%s: got status %q slug %q title %q rev %d, want %q %q %q %d", st.name, got.Status, got.Slug, got.Title, got.Revision, w.status, w.slug, w.title, w.revision)
		}
		if got.Version != int64(l.versions[s]) {
			t.Errorf("%s: version %d, want %d", st.name, got.Version, l.versions[s])
		}
		if (got.PublishedAt != nil) != w.published || (got.ScheduledFor != nil) != w.scheduled || (got.DeletedAt != nil) != w.deleted {
			t.Errorf("%s: published_at %v scheduled_for %v deleted_at %v, want published %v scheduled %v deleted %v",
				st.name, got.PublishedAt, got.ScheduledFor, got.DeletedAt, w.published, w.scheduled, w.deleted)
		}
		if got.AuthorID != alice.ID {
			t.Errorf("%s: author %s", st.name, got.AuthorID)
		}
		if got.BodyHTML == nil || !strings.Contains(*got.BodyHTML, "<p>") {
			t.Errorf("%s: body_html %v not rendered", st.name, got.BodyHTML)
		}
		if c := tagCounts(t, pool); !sameCounts(c, w.tags) {
			t.Errorf("%s: tag counts %v, want %v", st.name, c, w.tags)
		}
	}
	if got := readPost(t, pool, id); *got.BodyHTML != RenderMarkdown("# Hi\n\nfirst") {
		t.Errorf("body_html %q does not match the current body", *got.BodyHTML)
	}
}

func TestPostsIdempotent(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	l := newEventLog(t)
	for i := 0; i < 3; i++ {
		id := uuid.NewString()
		s := "post-" + id
		l.add(s, alice, domain.PostDrafted{PostID: id, AuthorID: alice.ID, Slug: "p" + id[:8], PostContent: content("T", "b", "a", "b"), Revision: 1})
		l.add(s, alice, domain.PostEdited{PostContent: content("T2", "b2", "b", "c"), Revision: 2})
		l.add(s, editor, domain.PostPublished{PublishedAt: l.now})
		l.add(s, editor, domain.PostEdited{PostContent: content("T3", "b3", "c", "d"), Revision: 3})
		if i == 1 {
			l.add(s, editor, domain.PostUnpublished{})
		}
	}
	p := NewPosts()
	apply(t, pool, p, l.events...)
	posts, tags := checksum(t, pool, "posts", "x.id"), checksum(t, pool, liveTags, "x.name")
	// Redeliver everything, one event per transaction and then all at once.
	for _, ev := range l.events {
		apply(t, pool, p, ev)
	}
	apply(t, pool, p, l.events...)
	if got := checksum(t, pool, "posts", "x.id"); got != posts {
		t.Error("posts changed on redelivery")
	}
	if got := checksum(t, pool, liveTags, "x.name"); got != tags {
		t.Errorf("tags changed on redelivery: %v", tagCounts(t, pool))
	}
	if c := tagCounts(t, pool); !sameCounts(c, map[string]int{"c": 2, "d": 2}) {
		t.Errorf("tag counts %v", c)
	}
}

func TestPostsBatchRendersOnFlush(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	l := newEventLog(t)
	p := NewPosts()
	ctx := context.Background()
	id := uuid.NewString()
	s := "post-" + id
	evs := []Event{
		l.add(s, alice, domain.PostDrafted{PostID: id, AuthorID: alice.ID, Slug: "d", PostContent: content("T", "one"), Revision: 1}),
		l.add(s, alice, domain.PostEdited{PostContent: content("T", "**two**"), Revision: 2}),
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := p.BeginBatch(ctx, tx); err != nil {
			return err
		}
		for _, ev := range evs {
			if err := p.Apply(ctx, tx, ev); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM posts WHERE id = $1", id).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("the post was written before the flush")
		}
		return p.FlushBatch(ctx, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readPost(t, pool, id); got.BodyHTML == nil || *got.BodyHTML != "<p><strong>two</strong></p>\n" || got.Revision != 2 || got.Version != 2 {
		t.Errorf("after flush: %+v", got)
	}
}

func TestPostsRejectsUnknownEvent(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	l := newEventLog(t)
	ev := l.addRaw("post-"+uuid.NewString(), alice, "PostTeleported", 1, []byte(`{}`))
	for _, p := range []Projection{NewPosts(), NewHistory()} {
		if err := applyErr(pool, p, ev); err == nil {
			t.Errorf("%s: an unknown post event type was applied silently", p.Name())
		}
	}
}

func TestRenderMarkdownSanitizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      string   // must appear
		banned    []string // must not appear (lower-cased output)
	}{
		{"script tag", "hello <script>alert(1)</script>", "hello", []string{"<script", "alert(1)</script"}},
		{"script block", "<script>\nalert(1)\n</script>\n\ntext", "text", []string{"<script"}},
		{"javascript link", "[click](javascript:alert(1))", "click", []string{"javascript:"}},
		{"javascript link upper case", "[click](JaVaScRiPt:alert(1))", "click", []string{"javascript:"}},
		{"raw anchor", `<a href="javascript:alert(1)">x</a>`, "", []string{"javascript:"}},
		{"autolink", "<javascript:alert(1)>", "", []string{"href=\"javascript:"}},
		{"onerror image", `<img src="x" onerror="alert(1)">`, "", []string{"onerror"}},
		{"markdown image", `![a](x.png "t")`, `<img src="x.png"`, []string{"onerror"}},
		{"iframe", `<iframe src="https://evil.example"></iframe>`, "", []string{"<iframe"}},
		{"style attribute", `<p style="background:url(javascript:alert(1))">x</p>`, "", []string{"javascript:", "style="}},
		{"plain markdown", "# Title\n\n- a\n- b\n\n`code`", "<h1", []string{"<script"}},
		{"safe link", "[ok](https://example.com)", `href="https://example.com"`, nil},
		{"table", "|a|b|\n|-|-|\n|1|2|", "<table>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RenderMarkdown(tt.src)
			low := strings.ToLower(got)
			if tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("RenderMarkdown(%q) = %q, want it to contain %q", tt.src, got, tt.want)
			}
			for _, b := range tt.banned {
				if strings.Contains(low, b) {
					t.Errorf("RenderMarkdown(%q) = %q contains %q", tt.src, got, b)
				}
			}
		})
	}
}

func TestPostsStoresSanitizedHTML(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	l := newEventLog(t)
	id := uuid.NewString()
	evil := "hi <script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)>"
	apply(t, pool, NewPosts(), l.add("post-"+id, alice, domain.PostDrafted{PostID: id, AuthorID: alice.ID, Slug: "evil", PostContent: content("Evil", evil), Revision: 1}))
	got := readPost(t, pool, id)
	if got.Body != evil {
		t.Errorf("markdown body changed: %q", got.Body)
	}
	for _, b := range []string{"<script", "javascript:", "onerror"} {
		if strings.Contains(strings.ToLower(*got.BodyHTML), b) {
			t.Errorf("body_html %q contains %q", *got.BodyHTML, b)
		}
	}
}

// mixedPostLog returns interleaved events of several posts covering every
// post event type, tag changes while published included.
func mixedPostLog(t *testing.T) []Event {
	l := newEventLog(t)
	ids := []string{uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()}
	s := func(i int) string { return "post-" + ids[i] }
	for i, id := range ids {
		l.add(s(i), alice, domain.PostDrafted{PostID: id, AuthorID: alice.ID, Slug: "m" + id[:8], PostContent: content("T", "body", "a", "b"), Revision: 1})
	}
	for r := 2; r <= 6; r++ {
		for i := range ids {
			tags := []string{"a", "b"}
			if r%2 == 0 {
				tags = []string{"b", "c" + fmt.Sprint(i)}
			}
			l.add(s(i), alice, domain.PostEdited{PostContent: content(fmt.Sprintf("T%d", r), fmt.Sprintf("body *%d* of %d", r, i), tags...), Revision: r})
			switch {
			case r == 3 && i < 3:
				l.add(s(i), editor, domain.PostPublished{PublishedAt: l.now})
			case r == 4 && i == 1:
				l.add(s(i), editor, domain.PostUnpublished{})
			case r == 5 && i == 2:
				l.add(s(i), editor, domain.PostSlugChanged{OldSlug: "m" + ids[i][:8], Slug: "moved"})
				l.add(s(i), editor, domain.PostDeleted{PreviousStatus: domain.StatusPublished})
			case r == 6 && i == 2:
				l.add(s(i), editor, domain.PostRestored{Status: domain.StatusPublished})
			case r == 6 && i == 3:
				l.add(s(i), editor, domain.PostScheduled{PublishAt: l.now.Add(time.Hour)})
			}
		}
	}
	l.add(s(3), domain.SystemActor, domain.PostPublished{PublishedAt: l.now, Scheduled: true})
	l.add(s(3), editor, domain.PostReverted{TargetRevision: 1, PostContent: content("T", "body", "a", "b"), Revision: 7})
	return l.events
}

func TestPostsBatchedEqualsEager(t *testing.T) {
	t.Parallel()
	evs := mixedPostLog(t)
	eagerDB := newReadDB(t)
	applyEach(t, eagerDB, NewPosts(), evs...)
	wantPosts, wantTags := checksum(t, eagerDB, "posts", "x.id"), checksum(t, eagerDB, liveTags, "x.name")
	if c := tagCounts(t, eagerDB); len(c) == 0 {
		t.Fatal("the log publishes nothing")
	}
	for _, size := range []int{1, 2, 3, 7, len(evs)} {
		t.Run(fmt.Sprintf("batches of %d", size), func(t *testing.T) {
			t.Parallel()
			pool := newReadDB(t)
			p := NewPosts()
			for i := 0; i < len(evs); i += size {
				apply(t, pool, p, evs[i:min(i+size, len(evs))]...)
			}
			if got := checksum(t, pool, "posts", "x.id"); got != wantPosts {
				t.Errorf("posts differ from eager projection")
			}
			if got := checksum(t, pool, liveTags, "x.name"); got != wantTags {
				t.Errorf("tags %v differ from eager %v", tagCounts(t, pool), tagCounts(t, eagerDB))
			}
			// Redelivery in batched mode changes nothing either.
			apply(t, pool, p, evs...)
			if checksum(t, pool, "posts", "x.id") != wantPosts || checksum(t, pool, liveTags, "x.name") != wantTags {
				t.Error("redelivery changed posts or tags")
			}
			var unrendered int
			if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM posts WHERE body_html IS NULL").Scan(&unrendered); err != nil || unrendered != 0 {
				t.Errorf("%d posts without HTML (%v)", unrendered, err)
			}
		})
	}
}

func TestPostsBatchRolledBack(t *testing.T) {
	t.Parallel()
	// A batch whose transaction rolls back leaves its buffer behind; when the
	// events come again without a new BeginBatch, the stale buffer is dropped
	// and the events are written directly.
	evs := mixedPostLog(t)
	eagerDB := newReadDB(t)
	applyEach(t, eagerDB, NewPosts(), evs...)
	want := checksum(t, eagerDB, "posts", "x.id") + checksum(t, eagerDB, liveTags, "x.name")

	pool := newReadDB(t)
	ctx := context.Background()
	p := NewPosts()
	boom := errors.New("boom")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := p.BeginBatch(ctx, tx); err != nil {
			return err
		}
		for _, ev := range evs[:20] {
			if err := p.Apply(ctx, tx, ev); err != nil {
				return err
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, ev := range evs {
			if err := p.Apply(ctx, tx, ev); err != nil {
				return err
			}
		}
		return p.FlushBatch(ctx, tx) // no batch open any more: a no-op
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := checksum(t, pool, "posts", "x.id") + checksum(t, pool, liveTags, "x.name"); got != want {
		t.Error("posts or tags differ from the eager projection after a rolled back batch")
	}
}

func TestPostsBatchIgnoresSavepoints(t *testing.T) {
	t.Parallel()
	// A careful re-run applies events in savepoints without bracketing the
	// batch: a batch left open on the connection must not swallow them, even
	// when the re-run starts at the very event the open batch ended with.
	evs := mixedPostLog(t)
	eagerDB := newReadDB(t)
	applyEach(t, eagerDB, NewPosts(), evs...)
	want := checksum(t, eagerDB, "posts", "x.id") + checksum(t, eagerDB, liveTags, "x.name")

	pool := newReadDB(t)
	ctx := context.Background()
	p := NewPosts()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.BeginBatch(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(ctx, tx, evs[0]); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, ev := range evs {
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			if err := p.Apply(ctx, sp, ev); err != nil {
				return err
			}
			if err := sp.Commit(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := checksum(t, pool, "posts", "x.id") + checksum(t, pool, liveTags, "x.name"); got != want {
		t.Error("events applied in savepoints after an unflushed batch were lost")
	}
}
