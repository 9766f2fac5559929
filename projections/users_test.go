package projections

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/domain"
)

const testHash = "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

func TestUsersProjection(t *testing.T) {
	t.Parallel()
	pool := newReadDB(t)
	l := newEventLog(t)
	admin := domain.Actor{ID: uuid.NewString(), Role: domain.RoleAdmin}
	id := uuid.NewString()
	s := "user-" + id
	u := NewUsers()
	type row struct {
		email, username, display, bio, role, status string
		version                                     int64
	}
	read := func() row {
		var r row
		if err := pool.QueryRow(context.Background(), `SELECT email, username, display_name, bio, role, status, version FROM users WHERE id = $1`, id).
			Scan(&r.email, &r.username, &r.display, &r.bio, &r.role, &r.status, &r.version); err != nil {
			t.Fatal(err)
		}
		return r
	}
	steps := []struct {
		name string
		ev   domain.Event
		by   domain.Actor
		want row
	}{
		{"registered", domain.UserRegistered{UserID: id, Email: "Ann@Example.com", Username: "ann", DisplayName: "Ann", PasswordHash: testHash, Role: domain.RoleReader},
			domain.Actor{ID: id, Role: domain.RoleReader}, row{"Ann@Example.com", "ann", "Ann", "", "reader", "active", 1}},
		{"profile", domain.UserProfileUpdated{DisplayName: "Ann B", Bio: "hi"}, domain.Actor{ID: id, Role: domain.RoleReader},
			row{"Ann@Example.com", "ann", "Ann B", "hi", "reader", "active", 2}},
		{"password", domain.UserPasswordChanged{PasswordHash: testHash + "x"}, domain.Actor{ID: id, Role: domain.RoleReader},
			row{"Ann@Example.com", "ann", "Ann B", "hi", "reader", "active", 3}},
		{"role", domain.UserRoleChanged{From: domain.RoleReader, To: domain.RoleEditor}, admin,
			row{"Ann@Example.com", "ann", "Ann B", "hi", "editor", "active", 4}},
		{"deactivated", domain.UserDeactivated{Reason: "spam"}, admin, row{"Ann@Example.com", "ann", "Ann B", "hi", "editor", "deactivated", 5}},
		{"reactivated", domain.UserReactivated{}, admin, row{"Ann@Example.com", "ann", "Ann B", "hi", "editor", "active", 6}},
	}
	var evs []Event
	for _, st := range steps {
		ev := l.add(s, st.by, st.ev)
		evs = append(evs, ev)
		apply(t, pool, u, ev)
		if got := read(); got != st.want {
			t.Errorf("%s: got %+v, want %+v", st.name, got, st.want)
		}
	}
	sum := checksum(t, pool, "users", "x.id")
	apply(t, pool, u, evs...)
	if checksum(t, pool, "users", "x.id") != sum {
		t.Error("users changed on redelivery")
	}
	// Audit the same events: no read table may hold a password hash.
	apply(t, pool, NewAudit(), evs...)
	assertNoSecrets(t, pool, testHash)
}

// assertNoSecrets fails when any row of any read table contains secret, or
// any read table has a column named like a password.
func assertNoSecrets(t *testing.T, pool *pgxpool.Pool, secret string) {
	t.Helper()
	ctx := context.Background()
	var cols []string
	rows, err := pool.Query(ctx, `SELECT table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND (column_name ILIKE '%password%' OR column_name ILIKE '%hash%')
		-- content addresses: the SHA-256 of public image bytes, not secrets
		AND table_name || '.' || column_name NOT IN ('media.hash', 'posts.feature_hash', 'users.avatar_hash')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cols) > 0 {
		t.Errorf("read tables have secret-looking columns: %v", cols)
	}
	for _, p := range All() {
		for _, table := range p.Tables() {
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" x WHERE strpos(x::text, $1) > 0", secret).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				t.Errorf("%d rows of %s contain the secret", n, table)
			}
		}
	}
}
