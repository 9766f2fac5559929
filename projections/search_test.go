package projections

import (
	"context"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// searchHits returns the posts whose vector matches the web-search query q,
// best rank first.
func searchHits(t *testing.T, pool *pgxpool.Pool, q string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT post_id::text FROM post_search
		WHERE search @@ websearch_to_tsquery('english', $1)
		ORDER BY ts_rank(search, websearch_to_tsquery('english', $1)) DESC, post_id`, q)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestSearchFollowsContent(t *testing.T) {
	t.Parallel()
	for _, batched := range []bool{false, true} {
		t.Run(map[bool]string{false: "event by event", true: "one batch"}[batched], func(t *testing.T) {
			t.Parallel()
			pool := newReadDB(t)
			l := newEventLog(t)
			a, b := uuid.NewString(), uuid.NewString()
			evs := []Event{
				l.add("post-"+a, alice, domain.PostDrafted{PostID: a, AuthorID: alice.ID, Slug: "a",
					PostContent: content("Gardening notes", "Tomatoes need sun."), Revision: 1}),
				l.add("post-"+b, alice, domain.PostDrafted{PostID: b, AuthorID: alice.ID, Slug: "b",
					PostContent: content("Kitchen", "Tomatoes in the body only."), Revision: 1}),
				// Non-content events are not searched and change nothing.
				l.add("post-"+a, alice, domain.PostPublished{}),
				l.add("post-"+a, alice, domain.PostEdited{PostContent: content("Gardening notes", "Cucumbers now."), Revision: 2}),
				l.add("post-"+a, alice, domain.PostReverted{TargetRevision: 1,
					PostContent: content("Gardening notes", "Tomatoes need sun, again."), Revision: 3}),
			}
			p := NewSearch()
			if batched {
				apply(t, pool, p, evs...)
			} else {
				applyEach(t, pool, p, evs...)
			}
			if got := searchHits(t, pool, "cucumbers"); len(got) != 0 {
				t.Errorf("the reverted edit's words are still found: %v", got)
			}
			// Both bodies mention tomatoes (stemmed: "tomato" finds them).
			if got := searchHits(t, pool, "tomato"); !slices.Equal(sorted(got), sorted([]string{a, b})) {
				t.Errorf("tomato found %v, want %s and %s", got, a, b)
			}
			// Title words rank above body words.
			if got := searchHits(t, pool, "kitchen OR tomatoes"); len(got) != 2 || got[0] != b {
				t.Errorf("kitchen OR tomatoes ranked %v, want %s first", got, b)
			}
			var pos int64
			if err := pool.QueryRow(context.Background(), "SELECT last_position FROM post_search WHERE post_id = $1", a).Scan(&pos); err != nil {
				t.Fatal(err)
			}
			if want := int64(evs[4].Position); pos != want {
				t.Errorf("last_position = %d, want %d (the last content event)", pos, want)
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Delivering an event again, or an older one after a newer, changes nothing.
func TestSearchIdempotent(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	l := newEventLog(t)
	id := uuid.NewString()
	s := "post-" + id
	d := l.add(s, alice, domain.PostDrafted{PostID: id, AuthorID: alice.ID, Slug: "x", PostContent: content("First", "alpha"), Revision: 1})
	e := l.add(s, alice, domain.PostEdited{PostContent: content("Second", "beta"), Revision: 2})
	p := NewSearch()
	apply(t, pool, p, d, e)
	sum := checksum(t, pool, "post_search", "post_id")
	applyEach(t, pool, p, d, e)
	apply(t, pool, p, e, d) // out of order inside one batch too: d is older
	if got := checksum(t, pool, "post_search", "post_id"); got != sum {
		t.Fatal("redelivery changed post_search")
	}
	if got := searchHits(t, pool, "alpha"); len(got) != 0 {
		t.Fatalf("older content came back: %v", got)
	}
	if got := searchHits(t, pool, "beta"); !slices.Equal(got, []string{id}) {
		t.Fatalf("beta found %v", got)
	}
}

func TestSearchNeeds(t *testing.T) {
	p := NewSearch()
	for typ, want := range map[string]Need{
		domain.EventPostDrafted: NeedPayload, domain.EventPostEdited: NeedPayload, domain.EventPostReverted: NeedPayload,
		domain.EventPostPublished: NeedNothing, domain.EventPostSlugChanged: NeedNothing, domain.EventPostDeleted: NeedNothing,
		domain.EventPostFeatureImageSet: NeedNothing,
	} {
		if got := needs(p, "post-"+uuid.NewString(), typ); got != want {
			t.Errorf("needs(%s) = %d, want %d", typ, got, want)
		}
	}
	if got := needs(p, "user-"+uuid.NewString(), domain.EventPostEdited); got != NeedNothing {
		t.Errorf("needs of a user stream = %d", got)
	}
}
