package postgres

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/queries"
)

func TestSeekHistoryAndRevisions(t *testing.T) {
	t.Parallel()
	pool := newReadModel(t)
	s := newSeed(t, pool)
	ann := s.user("ann", domain.RoleAuthor)
	const n = 1005
	post, other := uuid.NewString(), uuid.NewString()
	// One statement per table: 1,005 rows of the post and 3 of another
	// post, which no page may include.
	s.exec(`INSERT INTO post_revisions (post_id, revision, version, title, excerpt, body, tags, author_id, editor_id, at, note,
		event_id, position, size, kind)
		SELECT $1::uuid, i, i, 'Title ' || i, '', 'body', '{}'::text[], $2::uuid, $2::text, $3::timestamptz + i * interval '1 minute', '',
			gen_random_uuid(), i, 4, CASE WHEN i = 1 THEN 'drafted' ELSE 'edited' END
		FROM generate_series(1, $4::int) i
		UNION ALL
		SELECT $5::uuid, i, i, 'Other', '', 'body', '{}'::text[], $2::uuid, $2::text, $3::timestamptz, '', gen_random_uuid(), 5000 + i, 4,
			CASE WHEN i = 1 THEN 'drafted' ELSE 'edited' END
		FROM generate_series(1, 3) i`, post, ann, s.base, n, other)
	s.exec(`INSERT INTO post_history (post_id, version, type, actor_id, actor_role, at, correlation_id, causation_id, summary, event_id, position)
		SELECT $1::uuid, i, 'PostEdited', $2::text, 'author', $3::timestamptz + i * interval '1 minute', 'corr', 'cause', 'rev ' || i,
			gen_random_uuid(), i
		FROM generate_series(1, $4::int) i
		UNION ALL
		SELECT $5::uuid, i, 'PostEdited', $2::text, 'author', $3::timestamptz, 'c', 'c', '', gen_random_uuid(), 5000 + i
		FROM generate_series(1, 3) i`, post, ann, s.base, n, other)
	r := NewReader(pool)
	ctx := context.Background()

	seq := func(from, to uint64) []uint64 {
		var out []uint64
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}
	type want struct {
		keys         []uint64
		older, newer bool
	}
	tests := []struct {
		name string
		seek queries.Seek
		want want
	}{
		{"newest page", queries.Seek{Limit: 50, Backward: true}, want{keys: seq(956, 1005), older: true}},
		{"next older page", queries.Seek{Limit: 50, Backward: true, Bound: 956}, want{keys: seq(906, 955), older: true, newer: true}},
		{"oldest partial page backward", queries.Seek{Limit: 50, Backward: true, Bound: 6}, want{keys: seq(1, 5), newer: true}},
		{"before the first", queries.Seek{Limit: 50, Backward: true, Bound: 1}, want{newer: true}},
		{"oldest page", queries.Seek{Limit: 50}, want{keys: seq(1, 50), newer: true}},
		{"newer page", queries.Seek{Limit: 50, Bound: 50}, want{keys: seq(51, 100), older: true, newer: true}},
		{"newest page forward", queries.Seek{Limit: 50, Bound: 955}, want{keys: seq(956, 1005), older: true}},
		{"after the last", queries.Seek{Limit: 50, Bound: n}, want{older: true}},
		{"bound past every key", queries.Seek{Limit: 50, Bound: math.MaxUint64}, want{older: true}},
		{"backward bound past every key", queries.Seek{Limit: 50, Backward: true, Bound: math.MaxUint64}, want{keys: seq(956, 1005), older: true}},
		{"default and capped limit", queries.Seek{Limit: 1000, Backward: true}, want{keys: seq(906, 1005), older: true}},
		{"whole short list", queries.Seek{Limit: 0, Bound: 985}, want{keys: seq(986, 1005), older: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := r.SeekHistory(ctx, post, tt.seek)
			if err != nil {
				t.Fatal(err)
			}
			var hk []uint64
			for _, e := range h.Items {
				if e.Actor.Username != "ann" || e.Summary == "" || e.Position != e.Version {
					t.Fatalf("entry %+v", e)
				}
				hk = append(hk, e.Version)
			}
			if !slices.Equal(hk, tt.want.keys) || h.Older != tt.want.older || h.Newer != tt.want.newer {
				t.Errorf("SeekHistory(%+v) = %v (older %v, newer %v); want %v (older %v, newer %v)",
					tt.seek, hk, h.Older, h.Newer, tt.want.keys, tt.want.older, tt.want.newer)
			}
			v, err := r.SeekRevisions(ctx, post, tt.seek)
			if err != nil {
				t.Fatal(err)
			}
			var rk []uint64
			for _, e := range v.Items {
				if e.Body != "" || e.Editor.Username != "ann" || e.PostID != post {
					t.Fatalf("revision %+v", e)
				}
				rk = append(rk, uint64(e.Revision))
			}
			if !slices.Equal(rk, tt.want.keys) || v.Older != tt.want.older || v.Newer != tt.want.newer {
				t.Errorf("SeekRevisions(%+v) = %v (older %v, newer %v); want %v (older %v, newer %v)",
					tt.seek, rk, v.Older, v.Newer, tt.want.keys, tt.want.older, tt.want.newer)
			}
		})
	}

	// Walking backward from the newest page visits every entry once.
	var walked []uint64
	seek := queries.Seek{Limit: 100, Backward: true}
	for range 20 {
		w, err := r.SeekHistory(ctx, post, seek)
		if err != nil {
			t.Fatal(err)
		}
		var keys []uint64
		for _, e := range w.Items {
			keys = append(keys, e.Version)
		}
		walked = append(keys, walked...)
		if !w.Older {
			break
		}
		seek.Bound = keys[0]
	}
	if !slices.Equal(walked, seq(1, n)) {
		t.Errorf("walk visited %d entries, want 1..%d in order", len(walked), n)
	}

	for _, id := range []string{uuid.NewString(), "not-a-uuid", "' OR '1'='1"} {
		_, err := r.SeekHistory(ctx, id, queries.Seek{Backward: true})
		wantKind(t, err, domain.KindNotFound, "post_not_found")
		_, err = r.SeekRevisions(ctx, id, queries.Seek{Bound: 3})
		wantKind(t, err, domain.KindNotFound, "post_not_found")
	}
}
