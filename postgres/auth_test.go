package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
)

func newAuthStore(t *testing.T) *AuthStore {
	t.Helper()
	pool, _ := pgtest.NewPool(t)
	if err := Migrate(context.Background(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return NewAuthStore(pool)
}

func TestAuthSigningKeyConcurrentFirstStart(t *testing.T) {
	t.Parallel()
	s := newAuthStore(t)
	const n = 8
	keys := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := s.SigningKey(context.Background(), "jwt", func() ([]byte, error) {
				b := make([]byte, 32)
				_, err := rand.Read(b)
				return b, err
			})
			if err != nil {
				t.Errorf("signing key: %v", err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if len(keys[i]) != 32 || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("node %d got a different key", i)
		}
	}
}

func TestAuthRefreshRotation(t *testing.T) {
	t.Parallel()
	s := newAuthStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	fam := uuid.New()
	h := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	if err := s.CreateRefreshToken(ctx, RefreshToken{Hash: h(1), FamilyID: fam, UserID: "u1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Concurrent rotations of one token: exactly one wins.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		wins    int
		reused  int
		results []error
	)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RotateRefreshToken(ctx, h(1), RefreshToken{Hash: h(byte(10 + i)), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, now)
			mu.Lock()
			defer mu.Unlock()
			results = append(results, err)
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrRefreshTokenReused), errors.Is(err, ErrRefreshTokenRevoked):
				reused++
			}
		}()
	}
	wg.Wait()
	if wins != 1 || reused != 5 {
		t.Fatalf("wins %d, reused/revoked %d: %v", wins, reused, results)
	}
	// The family is revoked: no token of it works any more.
	var tokens []RefreshToken
	rows, err := s.pool.Query(ctx, `SELECT `+refreshColumns+` FROM auth_refresh_tokens WHERE family_id = $1`, fam)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		tk, err := scanRefresh(rows)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tk)
	}
	if len(tokens) != 2 {
		t.Fatalf("family has %d tokens, want 2", len(tokens))
	}
	for _, tk := range tokens {
		if tk.RevokedAt == nil {
			t.Fatalf("token not revoked after reuse: %+v", tk)
		}
	}
	// Expiry and unknown tokens.
	if err := s.CreateRefreshToken(ctx, RefreshToken{Hash: h(2), FamilyID: uuid.New(), UserID: "u1", IssuedAt: now, ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefreshToken(ctx, h(2), RefreshToken{Hash: h(3), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, now); !errors.Is(err, ErrRefreshTokenExpired) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := s.RotateRefreshToken(ctx, h(9), RefreshToken{Hash: h(4), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, now); !errors.Is(err, ErrRefreshTokenNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if n, err := s.PurgeExpired(ctx, now.Add(48*time.Hour)); err != nil || n == 0 {
		t.Fatalf("purge: %d %v", n, err)
	}
}

// TestAuthRefreshFamilyOpen: a family (one sign-in) is open until one of
// its tokens is revoked; a purged or unknown family is closed; a user-wide
// revocation can keep one family; and a token that a revocation missed
// (inserted by a racing rotation) cannot be rotated once its family has a
// revoked token.
func TestAuthRefreshFamilyOpen(t *testing.T) {
	t.Parallel()
	s := newAuthStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	h := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	open := func(fam uuid.UUID) bool {
		t.Helper()
		ok, err := s.RefreshFamilyOpen(ctx, fam)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	famA, famB, famC := uuid.New(), uuid.New(), uuid.New()
	for i, f := range []uuid.UUID{famA, famB, famC} {
		if err := s.CreateRefreshToken(ctx, RefreshToken{Hash: h(byte(i + 1)), FamilyID: f, UserID: "u1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if !open(famA) || !open(famB) || !open(famC) || open(uuid.New()) {
		t.Fatal("fresh families should be open, an unknown one closed")
	}
	if err := s.RevokeUserRefreshTokens(ctx, "u1", famB, now); err != nil {
		t.Fatal(err)
	}
	if open(famA) || !open(famB) || open(famC) {
		t.Fatalf("after revoking all but B: A %v B %v C %v", open(famA), open(famB), open(famC))
	}
	// A rotation racing with the revocation of B left a live successor.
	if err := s.RevokeRefreshFamily(ctx, famB, now); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, RefreshToken{Hash: h(9), FamilyID: famB, UserID: "u1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if open(famB) {
		t.Fatal("a family with a revoked token is open")
	}
	if _, err := s.RotateRefreshToken(ctx, h(9), RefreshToken{Hash: h(10), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, now); !errors.Is(err, ErrRefreshTokenRevoked) {
		t.Fatalf("rotating the token a revocation missed: %v", err)
	}
}

func TestAuthIdempotencyClaims(t *testing.T) {
	t.Parallel()
	s := newAuthStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	rec := IdempotencyRecord{UserID: "u", Key: "k", Method: "POST", Path: "/x", RequestHash: []byte{1}, ExpiresAt: now.Add(time.Hour)}
	got, err := s.BeginIdempotent(ctx, rec, now)
	if err != nil || got != nil {
		t.Fatalf("first claim: %v %v", got, err)
	}
	got, err = s.BeginIdempotent(ctx, rec, now)
	if err != nil || got == nil || got.Status != 0 {
		t.Fatalf("pending: %+v %v", got, err)
	}
	if err := s.CompleteIdempotent(ctx, "u", "k", 201, map[string]string{"Location": "/x/1"}, []byte(`{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	got, err = s.BeginIdempotent(ctx, rec, now)
	if err != nil || got == nil || got.Status != 201 || got.Headers["Location"] != "/x/1" || string(got.Body) != `{"id":1}` {
		t.Fatalf("completed: %+v %v", got, err)
	}
	// After expiry the key is free again.
	got, err = s.BeginIdempotent(ctx, rec, now.Add(2*time.Hour))
	if err != nil || got != nil {
		t.Fatalf("after expiry: %+v %v", got, err)
	}
	// Abandoning a pending claim frees it.
	if err := s.AbandonIdempotent(ctx, "u", "k"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.BeginIdempotent(ctx, rec, now); err != nil || got != nil {
		t.Fatalf("after abandon: %+v %v", got, err)
	}
}
