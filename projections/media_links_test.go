package projections

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// TestFeatureImagesAndAvatars checks that posts_v1 keeps the feature image
// and users_v1 the profile picture, event by event and in batches of every
// size, redeliveries included.
func TestFeatureImagesAndAvatars(t *testing.T) {
	t.Parallel()
	l := newEventLog(t)
	pid, uid, m1, m2 := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	h1, h2 := strings.Repeat("1a", 32), strings.Repeat("2b", 32)
	posts := []Event{
		l.add("post-"+pid, alice, domain.PostDrafted{PostID: pid, AuthorID: alice.ID, Slug: "pic", PostContent: content("Pic", "b"), Revision: 1}),
		l.add("post-"+pid, alice, domain.PostFeatureImageSet{MediaID: m1, Hash: h1, Alt: "first"}),
		l.add("post-"+pid, editor, domain.PostPublished{PublishedAt: l.now}),
		l.add("post-"+pid, alice, domain.PostFeatureImageSet{MediaID: m2, Hash: h2, Alt: "second"}),
	}
	users := []Event{
		l.add("user-"+uid, alice, domain.UserRegistered{UserID: uid, Email: "a@b.c", Username: "ann", DisplayName: "Ann", Role: domain.RoleReader}),
		l.add("user-"+uid, alice, domain.UserAvatarChanged{MediaID: m1, Hash: h1}),
	}
	type state struct{ media, hash, alt string }
	check := func(t *testing.T, name string, evs []Event, wantPost, wantUser state) {
		t.Helper()
		for size := 1; size <= len(evs); size++ {
			pool := newReadDB(t)
			for i := 0; i < len(evs); i += size {
				batch := evs[i:min(i+size, len(evs))]
				var ps, us []Event
				for _, ev := range batch {
					if strings.HasPrefix(ev.StreamID, "post-") {
						ps = append(ps, ev)
					} else {
						us = append(us, ev)
					}
				}
				if len(ps) > 0 {
					apply(t, pool, NewPosts(), ps...)
				}
				if len(us) > 0 {
					apply(t, pool, NewUsers(), us...)
				}
			}
			apply(t, pool, NewPosts(), evs[:len(posts)]...) // redelivery
			ctx := context.Background()
			var p, u state
			var version int64
			if err := pool.QueryRow(ctx, `SELECT coalesce(feature_media_id::text, ''), feature_hash, feature_alt, version FROM posts WHERE id = $1`, pid).
				Scan(&p.media, &p.hash, &p.alt, &version); err != nil {
				t.Fatalf("%s, batches of %d: %v", name, size, err)
			}
			if err := pool.QueryRow(ctx, `SELECT coalesce(avatar_media_id::text, ''), avatar_hash FROM users WHERE id = $1`, uid).
				Scan(&u.media, &u.hash); err != nil {
				t.Fatalf("%s, batches of %d: %v", name, size, err)
			}
			if p != wantPost || version != int64(len(posts)) {
				t.Errorf("%s, batches of %d: post %+v v%d, want %+v v%d", name, size, p, version, wantPost, len(posts))
			}
			if u != wantUser {
				t.Errorf("%s, batches of %d: user %+v, want %+v", name, size, u, wantUser)
			}
		}
	}
	check(t, "set twice", append(append([]Event{}, posts...), users...), state{m2, h2, "second"}, state{m1, h1, ""})

	// Removing the feature image clears it.
	posts = append(posts, l.add("post-"+pid, alice, domain.PostFeatureImageSet{}))
	users = append(users, l.add("user-"+uid, alice, domain.UserAvatarChanged{}))
	check(t, "removed", append(append([]Event{}, posts...), users...), state{}, state{})
}
