package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// newReadModel returns a pool on a fresh database migrated with every
// embedded migration, as production is: the readers select columns that
// later migrations add (e.g. 0005's feature_media_id).
func newReadModel(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := pgtest.NewPool(t)
	if err := Migrate(context.Background(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return pool
}

// seed inserts read-model rows directly; it stands in for the projections.
type seed struct {
	t    *testing.T
	pool *pgxpool.Pool
	pos  int64
	base time.Time
}

func newSeed(t *testing.T, pool *pgxpool.Pool) *seed {
	return &seed{t: t, pool: pool, base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (s *seed) exec(sql string, args ...any) {
	s.t.Helper()
	if _, err := s.pool.Exec(context.Background(), sql, args...); err != nil {
		s.t.Fatalf("seed: %v\n%s", err, sql)
	}
}

func (s *seed) user(username string, role domain.Role) string {
	id := uuid.NewString()
	s.pos++
	s.exec(`INSERT INTO users (id, email, username, display_name, role, status, created_at, updated_at, version, last_position)
		VALUES ($1, $2, $3, $4, $5, 'active', $6, $6, 1, $7)`, id, username+"@example.com", username, strings.ToUpper(username), string(role), s.base, s.pos)
	return id
}

type seedPost struct {
	title, body, excerpt, slug string
	status                     domain.PostStatus
	author                     string
	tags                       []string
	at                         time.Time // created_at, and published_at when published
}

func (s *seed) post(p seedPost) string {
	id := uuid.NewString()
	s.pos++
	if p.slug == "" {
		p.slug = "post-" + id[:8]
	}
	if p.tags == nil {
		p.tags = []string{}
	}
	var published *time.Time
	if p.status == domain.StatusPublished {
		published = &p.at
	}
	s.exec(`INSERT INTO posts (id, slug, title, body, body_html, excerpt, tags, status, author_id, version, revision,
		created_at, updated_at, published_at, last_position)
		VALUES ($1, $2, $3, $4, '<p>html</p>', $5, $6, $7, $8, 2, 1, $9, $9, $10, $11)`,
		id, p.slug, p.title, p.body, p.excerpt, p.tags, string(p.status), p.author, p.at, published, s.pos)
	// The search_v1 row, as projections.Search computes it.
	s.exec(`INSERT INTO post_search (post_id, search, last_position)
		SELECT id, setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', excerpt), 'B') ||
			setweight(to_tsvector('english', body), 'C'), last_position FROM posts WHERE id = $1`, id)
	return id
}

func wantKind(t *testing.T, err error, kind domain.Kind, code string) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind != kind || de.Code != code {
		t.Fatalf("error = %v, want %s %q", err, kind, code)
	}
}

// allPosts pages through ListPosts with limit and returns the ids in order.
func allPosts(t *testing.T, r *Reader, f queries.PostFilter) []string {
	t.Helper()
	var ids []string
	for i := 0; ; i++ {
		page, err := r.ListPosts(context.Background(), f)
		if err != nil {
			t.Fatalf("ListPosts(%+v): %v", f, err)
		}
		for _, p := range page.Items {
			ids = append(ids, p.ID)
		}
		if page.NextCursor == nil {
			return ids
		}
		if len(page.Items) != queries.NormalizeLimit(f.Limit) {
			t.Fatalf("a non-final page has %d items", len(page.Items))
		}
		f.Cursor = *page.NextCursor
		if i > 1000 {
			t.Fatal("paging does not end")
		}
	}
}

func TestListPosts(t *testing.T) {
	t.Parallel()
	pool := newReadModel(t)
	s := newSeed(t, pool)
	ann := s.user("ann", domain.RoleAuthor)
	bob := s.user("bob", domain.RoleAuthor)
	var published []string // newest first
	bobs := map[string]bool{}
	for i := 0; i < 45; i++ {
		author, tags := ann, []string{"go"}
		if i%3 == 0 {
			author, tags = bob, []string{"go", "sql"}
		}
		// Every fifth post shares its timestamp with the previous one: ids break the tie.
		at := s.base.Add(time.Duration(i-i%5/4) * time.Hour)
		id := s.post(seedPost{title: fmt.Sprintf("Post %d", i), body: "plain words", status: domain.StatusPublished, author: author, tags: tags, at: at})
		bobs[id] = author == bob
		published = append([]string{id}, published...)
	}
	// Sort the expectation exactly like the finder: time desc, id desc.
	expect := func(ids []string) []string {
		rows, err := pool.Query(context.Background(), `SELECT id::text FROM posts WHERE id = ANY($1::uuid[]) ORDER BY sort_at DESC, id DESC`, ids)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	published = expect(published)
	annDraft := s.post(seedPost{title: "Ann's draft", body: "secret plans", status: domain.StatusDraft, author: ann, tags: []string{"go"}, at: s.base.Add(100 * time.Hour)})
	bobDraft := s.post(seedPost{title: "Bob's draft", body: "other plans", status: domain.StatusDraft, author: bob, at: s.base.Add(101 * time.Hour)})
	deleted := s.post(seedPost{title: "Gone", body: "deleted words", status: domain.StatusDeleted, author: ann, at: s.base.Add(102 * time.Hour)})
	r := NewReader(pool)
	ctx := context.Background()

	page, err := r.ListPosts(ctx, queries.PostFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != queries.DefaultLimit || page.NextCursor == nil {
		t.Fatalf("first page: %d items, cursor %v", len(page.Items), page.NextCursor)
	}
	if p := page.Items[0]; p.Author.Username == "" || p.Author.DisplayName == "" || p.Status != domain.StatusPublished || p.PublishedAt == nil || len(p.Tags) == 0 {
		t.Errorf("summary %+v lacks fields", p)
	}
	if b, _ := json.Marshal(page); !strings.Contains(string(b), `"next_cursor":"`) || !strings.Contains(string(b), `"items":[{`) {
		t.Errorf("page JSON %s", b)
	}

	tests := []struct {
		name   string
		filter queries.PostFilter
		want   []string
	}{
		{"public pages", queries.PostFilter{}, published},
		{"small pages", queries.PostFilter{Limit: 7}, published},
		{"limit above max", queries.PostFilter{Limit: 1000}, published},
		{"tag", queries.PostFilter{Tag: "sql", Limit: 4}, filterIDs(published, bobs)},
		{"author username", queries.PostFilter{Author: "bob", Limit: 6}, filterIDs(published, bobs)},
		{"own drafts", queries.PostFilter{AuthorID: ann, Limit: 10}, append([]string{annDraft}, published...)},
		{"own drafts only", queries.PostFilter{AuthorID: ann, Status: domain.StatusDraft}, []string{annDraft}},
		{"all statuses hides deleted", queries.PostFilter{IncludeAll: true, Limit: 9}, append([]string{bobDraft, annDraft}, published...)},
		{"deleted on request", queries.PostFilter{IncludeAll: true, Status: domain.StatusDeleted}, []string{deleted}},
		{"drafts for staff", queries.PostFilter{IncludeAll: true, Status: domain.StatusDraft}, []string{bobDraft, annDraft}},
		{"status outside visibility", queries.PostFilter{Status: domain.StatusDraft}, nil},
		{"explicit statuses", queries.PostFilter{Statuses: []domain.PostStatus{domain.StatusDraft, domain.StatusDeleted}}, []string{deleted, bobDraft, annDraft}},
		{"no such tag", queries.PostFilter{Tag: "nope"}, nil},
		{"no such author", queries.PostFilter{Author: "nobody"}, nil},
		{"nul byte in tag", queries.PostFilter{Tag: "go\x00"}, nil},
		{"invalid utf-8 in author", queries.PostFilter{Author: "b\xffob"}, nil},
		{"sql in tag", queries.PostFilter{Tag: "go'; DROP TABLE posts; --"}, nil},
		{"sql in author", queries.PostFilter{Author: "x' OR '1'='1"}, nil},
		{"like metacharacters in author", queries.PostFilter{Author: "%"}, nil},
		{"bad author id is ignored", queries.PostFilter{AuthorID: "' OR 1=1 --", Limit: 50}, published},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := allPosts(t, r, tt.filter)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %d posts %v\nwant %d %v", len(got), got, len(tt.want), tt.want)
			}
		})
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM posts").Scan(&n); err != nil || n != 48 {
		t.Fatalf("posts table after hostile filters: %d rows, %v", n, err)
	}
}

func filterIDs(ids []string, keep map[string]bool) []string {
	var out []string
	for _, id := range ids {
		if keep[id] {
			out = append(out, id)
		}
	}
	return out
}

func TestListPostsSearch(t *testing.T) {
	t.Parallel()
	pool := newReadModel(t)
	s := newSeed(t, pool)
	ann := s.user("ann", domain.RoleAuthor)
	at := func(h int) time.Time { return s.base.Add(time.Duration(h) * time.Hour) }
	inTitle := s.post(seedPost{title: "Gardening with tomatoes", body: "soil", excerpt: "x", status: domain.StatusPublished, author: ann, at: at(1)})
	inExcerpt := s.post(seedPost{title: "Summer", body: "soil", excerpt: "tomatoes all summer", status: domain.StatusPublished, author: ann, at: at(2)})
	inBody := s.post(seedPost{title: "Cooking", body: "I like a tomato sauce", excerpt: "x", status: domain.StatusPublished, author: ann, at: at(3)})
	s.post(seedPost{title: "Tomato draft", body: "tomato", excerpt: "x", status: domain.StatusDraft, author: ann, at: at(4)})
	var many []string
	for i := 0; i < 30; i++ {
		many = append(many, s.post(seedPost{title: fmt.Sprintf("Note %d", i), body: "radish and tomato", excerpt: "x", status: domain.StatusPublished, author: ann, at: at(10 + i)}))
	}
	r := NewReader(pool)
	ctx := context.Background()

	page, err := r.ListPosts(ctx, queries.PostFilter{Q: "tomatoes", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 3 || page.Items[0].ID != inTitle || page.Items[1].ID != inExcerpt {
		t.Fatalf("ranking: %+v", page.Items)
	}
	all := allPosts(t, r, queries.PostFilter{Q: "tomato", Limit: 4})
	if len(all) != 33 {
		t.Fatalf("search paging found %d posts, want 33", len(all))
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("search paging repeated %s", id)
		}
		seen[id] = true
	}
	if all[0] != inTitle || all[1] != inExcerpt || !seen[inBody] || !seen[many[0]] {
		t.Errorf("search order %v", all[:3])
	}
	if got := allPosts(t, r, queries.PostFilter{Q: `radish -tomato`}); len(got) != 0 {
		t.Errorf("websearch negation found %d", len(got))
	}
	if got := allPosts(t, r, queries.PostFilter{Q: `"tomato sauce"`}); len(got) != 1 || got[0] != inBody {
		t.Errorf("phrase search found %v", got)
	}
	for _, q := range []string{`'; DROP TABLE posts; --`, `\`, `%_`, `"`, `!!(`, `tomato & | !`, "the", "\x00", "to\xffmato"} {
		if _, err := r.ListPosts(ctx, queries.PostFilter{Q: q}); err != nil {
			t.Errorf("q %q: %v", q, err)
		}
	}
	// A search cursor is not valid for the plain list and vice versa.
	if _, err := r.ListPosts(ctx, queries.PostFilter{Cursor: *page.NextCursor}); err == nil {
		t.Error("search cursor accepted by the plain list")
	} else {
		wantKind(t, err, domain.KindInvalid, "invalid_cursor")
	}
}

func TestListPostsBadCursor(t *testing.T) {
	t.Parallel()
	r := NewReader(newReadModel(t))
	ctx := context.Background()
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, c := range []string{
		"!!!", "abc", "' OR 1=1 --", enc(`{}`), enc(`{"t":"2026-01-01T00:00:00Z","id":"x' OR '1'='1"}`),
		enc(`{"t":"yesterday","id":"` + uuid.NewString() + `"}`), enc(`{"t":"2026-01-01T00:00:00Z","id":"` + uuid.NewString() + `","x":1}`),
		enc(`{"t":"2026-01-01T00:00:00Z","id":"` + uuid.NewString() + `"} {}`), strings.Repeat("A", 5000),
	} {
		if _, err := r.ListPosts(ctx, queries.PostFilter{Cursor: c}); err == nil {
			t.Errorf("cursor %q accepted", c)
		} else {
			wantKind(t, err, domain.KindInvalid, "invalid_cursor")
		}
	}
	if _, err := r.ListPosts(ctx, queries.PostFilter{Status: "bogus"}); err == nil {
		t.Error("bogus status accepted")
	} else {
		wantKind(t, err, domain.KindInvalid, "invalid_status")
	}
	for _, f := range []func(string) error{
		func(c string) error { _, err := r.ListAudit(ctx, queries.AuditFilter{Cursor: c}); return err },
		func(c string) error { _, err := r.ListUsers(ctx, queries.UserFilter{Cursor: c}); return err },
		func(c string) error { _, err := r.ListRevisions(ctx, uuid.NewString(), 0, c); return err },
	} {
		for _, c := range []string{"%%%", enc(`{"p":-1}`), enc(`{"u":""}`), enc(`{"rev":0}`), enc(`"str"`)} {
			if err := f(c); err == nil {
				t.Errorf("cursor %q accepted", c)
			} else {
				wantKind(t, err, domain.KindInvalid, "invalid_cursor")
			}
		}
	}
}

func TestGetPost(t *testing.T) {
	t.Parallel()
	pool := newReadModel(t)
	s := newSeed(t, pool)
	ann := s.user("ann", domain.RoleAuthor)
	at := s.base.Add(time.Hour)
	id := s.post(seedPost{title: "Hello", body: "# Hi", excerpt: "e", slug: "hello", status: domain.StatusPublished, author: ann, tags: []string{"a"}, at: at})
	uuidSlug := uuid.NewString()
	other := s.post(seedPost{title: "Odd", body: "b", slug: uuidSlug, status: domain.StatusDraft, author: ann, at: at})
	r := NewReader(pool)
	ctx := context.Background()
	for _, key := range []string{id, "hello", strings.ToUpper(id)} {
		p, err := r.GetPost(ctx, key)
		if err != nil {
			t.Fatalf("GetPost(%s): %v", key, err)
		}
		if p.ID != id || p.Slug != "hello" || p.Title != "Hello" || p.Body != "# Hi" || p.BodyHTML != "<p>html</p>" || p.Excerpt != "e" ||
			p.Status != domain.StatusPublished || p.Author.ID != ann || p.Author.Username != "ann" || p.Version != 2 || p.Revision != 1 ||
			p.PublishedAt == nil || !p.PublishedAt.Equal(at) || p.PublishedAt.Location() != time.UTC || len(p.Tags) != 1 {
			t.Errorf("GetPost(%s) = %+v", key, p)
		}
	}
	if p, err := r.GetPost(ctx, uuidSlug); err != nil || p.ID != other {
		t.Errorf("GetPost(uuid-looking slug) = %+v, %v", p, err)
	}
	for _, key := range []string{uuid.NewString(), "nope", "' OR '1'='1", "", "hello\x00", "\xff"} {
		_, err := r.GetPost(ctx, key)
		wantKind(t, err, domain.KindNotFound, "post_not_found")
	}
}

func TestRevisionsAndHistory(t *testing.T) {
	t.Parallel()
	pool := newReadModel(t)
	s := newSeed(t, pool)
	ann := s.user("ann", domain.RoleAuthor)
	ed := s.user("ed", domain.RoleEditor)
	post := uuid.NewString()
	at := func(i int) time.Time { return s.base.Add(time.Duration(i) * time.Minute) }
	for i := 1; i <= 7; i++ {
		editor, kind, from := ann, "edited", any(nil)
		switch i {
		case 1:
			kind = "drafted"
		case 5:
			editor, kind, from = ed, "reverted", 2
		case 6:
			editor = "system"
		}
		body := strings.Repeat("x", i)
		s.exec(`INSERT INTO post_revisions (post_id, revision, version, title, excerpt, body, tags, author_id, editor_id, at, note,
			event_id, position, size, kind, reverted_from) VALUES ($1, $2, $3, $4, 'ex', $5, '{t}', $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			post, i, i*2, fmt.Sprintf("Title %d", i), body, ann, editor, at(i), fmt.Sprintf("note %d", i), uuid.New(), 100+i, len(body), kind, from)
		s.exec(`INSERT INTO post_history (post_id, version, type, actor_id, actor_role, at, correlation_id, causation_id, summary, event_id, position)
			VALUES ($1, $2, 'PostEdited', $3, 'author', $4, 'corr', 'cause', $5, $6, $7)`, post, i, editor, at(i), fmt.Sprintf("Edited (rev %d)", i), uuid.New(), 100+i)
	}
	r := NewReader(pool)
	ctx := context.Background()

	var revs []queries.Revision
	cursor := ""
	for {
		page, err := r.ListRevisions(ctx, post, 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, page.Items...)
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(revs) != 7 {
		t.Fatalf("%d revisions, want 7", len(revs))
	}
	for i, v := range revs {
		n := i + 1
		if v.Revision != n || v.Version != uint64(2*n) || v.Body != "" || v.Size != n || v.Author.Username != "ann" || v.Title != fmt.Sprintf("Title %d", n) ||
			v.Note != fmt.Sprintf("note %d", n) || v.EventID == "" || v.Position != uint64(100+n) || len(v.Tags) != 1 {
			t.Errorf("revision %d = %+v", n, v)
		}
	}
	if revs[4].Editor.Username != "ed" || revs[4].Kind != "reverted" || revs[4].RevertedFrom == nil || *revs[4].RevertedFrom != 2 {
		t.Errorf("revert revision = %+v", revs[4])
	}
	if revs[5].Editor.ID != "system" || revs[5].Editor.Username != "" {
		t.Errorf("system revision editor = %+v", revs[5].Editor)
	}
	v, err := r.GetRevision(ctx, post, 4)
	if err != nil || v.Body != "xxxx" || v.Revision != 4 || v.Editor.DisplayName != "ANN" {
		t.Errorf("GetRevision = %+v, %v", v, err)
	}
	_, err = r.GetRevision(ctx, post, 8)
	wantKind(t, err, domain.KindNotFound, "revision_not_found")
	_, err = r.GetRevision(ctx, "x'--", 1)
	wantKind(t, err, domain.KindNotFound, "revision_not_found")
	_, err = r.ListRevisions(ctx, uuid.NewString(), 0, "")
	wantKind(t, err, domain.KindNotFound, "post_not_found")
	_, err = r.ListRevisions(ctx, "not-a-uuid", 0, "")
	wantKind(t, err, domain.KindNotFound, "post_not_found")

	hist, err := r.ListHistory(ctx, post)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 7 || hist[0].Version != 1 || hist[6].Version != 7 || hist[0].Actor.Username != "ann" || hist[4].Actor.Username != "ed" ||
		hist[5].Actor.ID != "system" || hist[2].Summary != "Edited (rev 3)" || hist[0].CorrelationID != "corr" || hist[0].ActorRole != domain.RoleAuthor {
		t.Errorf("history = %+v", hist)
	}
	_, err = r.ListHistory(ctx, uuid.NewString())
	wantKind(t, err, domain.KindNotFound, "post_not_found")
}

func TestListAudit(t *testing.T) {
	t.Parallel()
	pool := newReadModel(t)
	s := newSeed(t, pool)
	ann := s.user("ann", domain.RoleAuthor)
	add := func(pos int, stream, typ, actor string, at time.Time) {
		s.exec(`INSERT INTO audit_log (position, event_id, stream_id, stream_version, type, actor_id, actor_role, correlation_id,
			causation_id, at, recorded_at) VALUES ($1, $2, $3, 1, $4, $5, 'author', 'c', 'k', $6, $6)`, pos, uuid.New(), stream, typ, actor, at)
	}
	post := "post-" + uuid.NewString()
	for i := 1; i <= 30; i++ {
		at := s.base.Add(time.Duration(i) * time.Hour)
		switch {
		case i%10 == 0:
			add(i, "user-"+ann, "UserProfileUpdated", ann, at)
		case i%7 == 0:
			add(i, "slug_x-"+fmt.Sprint(i), "ReservationClaimed", "system", at)
		default:
			add(i, post, "PostEdited", ann, at)
		}
	}
	r := NewReader(pool)
	ctx := context.Background()
	positions := func(f queries.AuditFilter) []uint64 {
		t.Helper()
		var out []uint64
		for {
			page, err := r.ListAudit(ctx, f)
			if err != nil {
				t.Fatalf("ListAudit(%+v): %v", f, err)
			}
			for _, e := range page.Items {
				out = append(out, e.Position)
			}
			if page.NextCursor == nil {
				return out
			}
			f.Cursor = *page.NextCursor
		}
	}
	since, until := s.base.Add(25*time.Hour), s.base.Add(28*time.Hour)
	tests := []struct {
		name   string
		filter queries.AuditFilter
		want   []uint64
	}{
		{"all newest first", queries.AuditFilter{Limit: 7}, seq(30, 1)},
		{"actor by id", queries.AuditFilter{Actor: ann, Limit: 5}, without(seq(30, 1), 28, 21, 14, 7)},
		{"actor by username", queries.AuditFilter{Actor: "ann"}, without(seq(30, 1), 28, 21, 14, 7)},
		{"system actor", queries.AuditFilter{Actor: "system"}, []uint64{28, 21, 14, 7}},
		{"type", queries.AuditFilter{Type: "UserProfileUpdated"}, []uint64{30, 20, 10}},
		{"exact stream", queries.AuditFilter{Stream: "user-" + ann}, []uint64{30, 20, 10}},
		{"stream prefix", queries.AuditFilter{Stream: "user-"}, []uint64{30, 20, 10}},
		{"prefix with like metacharacter", queries.AuditFilter{Stream: "slug_x-"}, []uint64{28, 21, 14, 7}},
		{"underscore is not a wildcard", queries.AuditFilter{Stream: "slug%-"}, nil},
		{"since and until", queries.AuditFilter{Since: &since, Until: &until}, []uint64{27, 26, 25}},
		{"sql in actor", queries.AuditFilter{Actor: "' OR 1=1 --"}, nil},
		{"nul in stream", queries.AuditFilter{Stream: "user-\x00"}, nil},
		{"sql in type", queries.AuditFilter{Type: "x' OR 'a'='a"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := positions(tt.filter); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	page, err := r.ListAudit(ctx, queries.AuditFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if e := page.Items[0]; e.Actor.Username != "ann" || e.StreamID != "user-"+ann || e.StreamVersion != 1 || e.ActorRole != domain.RoleAuthor || e.CorrelationID != "c" || e.CausationID != "k" {
		t.Errorf("entry = %+v", e)
	}
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i >= to; i-- {
		out = append(out, i)
	}
	return out
}

func without(xs []uint64, drop ...uint64) []uint64 {
	var out []uint64
next:
	for _, x := range xs {
		for _, d := range drop {
			if x == d {
				continue next
			}
		}
		out = append(out, x)
	}
	return out
}

func TestUsersAndTags(t *testing.T) {
	t.Parallel()
	pool := newReadModel(t)
	s := newSeed(t, pool)
	var ids []string
	for i := 0; i < 12; i++ {
		role := domain.RoleReader
		if i%4 == 0 {
			role = domain.RoleEditor
		}
		ids = append(ids, s.user(fmt.Sprintf("user_%02d", i), role))
	}
	s.exec(`UPDATE users SET status = 'deactivated' WHERE username = 'user_03'`)
	s.exec(`INSERT INTO tags (name, count) VALUES ('go', 3), ('sql', 5), ('zero', 0), ('cms', 3)`)
	r := NewReader(pool)
	ctx := context.Background()
	users := func(f queries.UserFilter) []string {
		t.Helper()
		var out []string
		for {
			page, err := r.ListUsers(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page.Items {
				out = append(out, u.Username)
			}
			if page.NextCursor == nil {
				return out
			}
			f.Cursor = *page.NextCursor
		}
	}
	if got := users(queries.UserFilter{Limit: 5}); len(got) != 12 || got[0] != "user_00" || got[11] != "user_11" {
		t.Errorf("all users %v", got)
	}
	if got := users(queries.UserFilter{Role: domain.RoleEditor}); fmt.Sprint(got) != "[user_00 user_04 user_08]" {
		t.Errorf("editors %v", got)
	}
	if got := users(queries.UserFilter{Status: domain.UserStatusDeactivated}); fmt.Sprint(got) != "[user_03]" {
		t.Errorf("deactivated %v", got)
	}
	if got := users(queries.UserFilter{Q: "R_1"}); fmt.Sprint(got) != "[user_10 user_11]" {
		t.Errorf("q R_1 %v", got)
	}
	if got := users(queries.UserFilter{Q: "%"}); len(got) != 0 {
		t.Errorf("q %% matched %v", got)
	}
	_, err := r.ListUsers(ctx, queries.UserFilter{Role: "root"})
	wantKind(t, err, domain.KindInvalid, "invalid_role")

	u, err := r.GetUser(ctx, ids[1])
	if err != nil || u.Username != "user_01" || u.Email != "user_01@example.com" || u.Role != domain.RoleReader || u.Status != domain.UserStatusActive {
		t.Errorf("GetUser(id) = %+v, %v", u, err)
	}
	if u2, err := r.GetUser(ctx, "user_01"); err != nil || u2 != u {
		t.Errorf("GetUser(username) = %+v, %v", u2, err)
	}
	b, _ := json.Marshal(u)
	if strings.Contains(strings.ToLower(string(b)), "password") {
		t.Errorf("user JSON %s mentions a password", b)
	}
	for _, key := range []string{uuid.NewString(), "nobody", "' OR 1=1 --", "user_01\x00"} {
		_, err := r.GetUser(ctx, key)
		wantKind(t, err, domain.KindNotFound, "user_not_found")
	}

	tags, err := r.ListTags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tags) != "[{sql 5} {cms 3} {go 3}]" {
		t.Errorf("tags %v", tags)
	}
}
