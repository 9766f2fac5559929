package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
	"github.com/palimpsest-cms/palimpsest/projections"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// TestReaderOverProjections drives the real projections with events and
// reads the result back through the Reader, the way the HTTP layer does.
func TestReaderOverProjections(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t)
	ctx := context.Background()
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		// The read models of projections.All() (0006 reads the checkpoints of 0001).
		switch m.Version {
		case "0001_projection_runtime", "0002_read_models", "0004_media", "0005_feature_images", "0006_post_search":
			if _, err := pool.Exec(ctx, m.SQL); err != nil {
				t.Fatal(err)
			}
		}
	}
	var (
		pos    uint64
		events []eventstore.RecordedEvent
		vers   = map[string]uint64{}
		now    = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	)
	add := func(stream string, actor domain.Actor, e domain.Event) {
		data, schema, err := domain.EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		pos++
		vers[stream]++
		now = now.Add(time.Minute)
		meta, _ := json.Marshal(domain.Metadata{ActorID: actor.ID, ActorRole: actor.Role, CorrelationID: "req-1", OccurredAt: now, Schema: schema})
		events = append(events, eventstore.RecordedEvent{ID: uuid.New(), StreamID: stream, Version: vers[stream],
			Position: eventstore.Position(pos), Type: e.EventType(), Data: data, Metadata: meta, RecordedAt: now})
	}
	authorID, editorID, postID := uuid.NewString(), uuid.NewString(), uuid.NewString()
	author := domain.Actor{ID: authorID, Role: domain.RoleAuthor}
	editor := domain.Actor{ID: editorID, Role: domain.RoleEditor}
	hash := "$2a$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01"
	add("user-"+authorID, author, domain.UserRegistered{UserID: authorID, Email: "ann@example.com", Username: "ann", DisplayName: "Ann", PasswordHash: hash, Role: domain.RoleAuthor})
	add("user-"+editorID, editor, domain.UserRegistered{UserID: editorID, Email: "ed@example.com", Username: "ed", DisplayName: "Ed", PasswordHash: hash, Role: domain.RoleEditor})
	p := "post-" + postID
	add(p, author, domain.PostDrafted{PostID: postID, AuthorID: authorID, Slug: "zucchini", Revision: 1,
		PostContent: domain.PostContent{Title: "Growing zucchini", Body: "Water <script>alert(1)</script> daily.", Excerpt: "Garden notes", Tags: []string{"garden"}}})
	add(p, author, domain.PostEdited{Revision: 2, Note: "more detail",
		PostContent: domain.PostContent{Title: "Growing zucchini", Body: "Water daily. [More](javascript:alert(1))", Excerpt: "Garden notes", Tags: []string{"garden", "summer"}}})
	add(p, editor, domain.PostPublished{PublishedAt: now})

	for _, proj := range projections.All() {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			for _, rec := range events {
				if !eventstore.MatchesPrefix(rec.StreamID, proj.StreamPrefixes()) {
					continue
				}
				ev, err := projections.Decode(rec)
				if err != nil {
					return err
				}
				if err := proj.Apply(ctx, tx, ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", proj.Name(), err)
		}
	}

	r := postgres.NewReader(pool)
	page, err := r.ListPosts(ctx, queries.PostFilter{Q: "zucchini watering"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != postID || page.Items[0].Author.Username != "ann" || page.Items[0].Revision != 2 {
		t.Fatalf("search = %+v", page.Items)
	}
	post, err := r.GetPost(ctx, "zucchini")
	if err != nil {
		t.Fatal(err)
	}
	if post.Status != domain.StatusPublished || post.Version != 3 || strings.Contains(post.BodyHTML, "javascript:") || !strings.Contains(post.BodyHTML, "Water daily.") {
		t.Errorf("post = %+v", post)
	}
	revs, err := r.ListRevisions(ctx, postID, 0, "")
	if err != nil || len(revs.Items) != 2 || revs.Items[1].Note != "more detail" || revs.Items[1].Editor.Username != "ann" || revs.Items[0].Author.DisplayName != "Ann" {
		t.Errorf("revisions = %+v, %v", revs.Items, err)
	}
	hist, err := r.ListHistory(ctx, postID)
	if err != nil || len(hist) != 3 || hist[2].Summary != "Published" || hist[2].Actor.Username != "ed" || hist[1].Summary != "Edited: more detail (rev 2)" {
		t.Errorf("history = %+v, %v", hist, err)
	}
	tags, err := r.ListTags(ctx)
	if err != nil || len(tags) != 2 {
		t.Errorf("tags = %v, %v", tags, err)
	}
	audit, err := r.ListAudit(ctx, queries.AuditFilter{Actor: "ed"})
	if err != nil || len(audit.Items) != 2 || audit.Items[0].Type != domain.EventPostPublished {
		t.Errorf("audit = %+v, %v", audit.Items, err)
	}
	u, err := r.GetUser(ctx, "ann")
	if err != nil || u.ID != authorID || u.Role != domain.RoleAuthor {
		t.Errorf("user = %+v, %v", u, err)
	}
	// No read table holds the password hash.
	for _, table := range []string{"posts", "tags", "post_revisions", "post_history", "users", "audit_log"} {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" x WHERE strpos(x::text, $1) > 0", hash).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows hold the password hash (%v)", table, n, err)
		}
	}
}
