package projections

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/domain"
)

func TestAuditRecordsEveryStream(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	l := newEventLog(t)
	uid, pid := uuid.NewString(), uuid.NewString()
	evs := []Event{
		l.add("username-ann", domain.Actor{ID: uid, Role: domain.RoleReader}, domain.ReservationClaimed{OwnerID: uid, Value: "ann"}),
		l.add("user-"+uid, domain.Actor{ID: uid, Role: domain.RoleReader}, domain.UserRegistered{UserID: uid, Email: "a@b.c", Username: "ann", DisplayName: "Ann", PasswordHash: testHash, Role: domain.RoleAdmin}),
		l.add("post-"+pid, alice, domain.PostDrafted{PostID: pid, AuthorID: alice.ID, Slug: "s", PostContent: content("T", "b"), Revision: 1}),
		l.addRaw("media-"+uuid.NewString(), alice, "MediaUploaded", 1, []byte(`{"hash":"abc"}`)),
		l.add("post-"+pid, domain.SystemActor, domain.PostPublished{PublishedAt: l.now, Scheduled: true}),
	}
	a := NewAudit()
	apply(t, pool, a, evs...)
	apply(t, pool, a, evs...) // redelivery
	rows, err := pool.Query(context.Background(), `SELECT position, event_id::text, stream_id, stream_version, type, actor_id, actor_role,
		correlation_id, causation_id, at, recorded_at FROM audit_log ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var (
			pos, ver                                  int64
			id, stream, typ, actor, role, corr, cause string
			at, recorded                              time.Time
		)
		if err := rows.Scan(&pos, &id, &stream, &ver, &typ, &actor, &role, &corr, &cause, &at, &recorded); err != nil {
			t.Fatal(err)
		}
		ev := evs[i]
		m := ev.Metadata
		if pos != int64(ev.Position) || id != ev.ID.String() || stream != ev.StreamID || ver != int64(ev.Version) || typ != ev.Type ||
			actor != m.ActorID || role != string(m.ActorRole) || corr != m.CorrelationID || cause != m.CausationID ||
			!at.Equal(m.OccurredAt) || !recorded.Equal(ev.RecordedAt) {
			t.Errorf("audit row %d = %d %s %s %d %s %s %s %s %s %v %v, want %+v", i, pos, id, stream, ver, typ, actor, role, corr, cause, at, recorded, ev)
		}
		i++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(evs) {
		t.Fatalf("%d audit rows, want %d", i, len(evs))
	}
	assertNoSecrets(t, pool, testHash)
}
