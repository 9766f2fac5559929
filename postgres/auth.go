package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors of the authentication storage. Match them with errors.Is.
var (
	// ErrRefreshTokenNotFound means no refresh token has the presented hash.
	ErrRefreshTokenNotFound = errors.New("refresh token not found")
	// ErrRefreshTokenReused means an already rotated refresh token was
	// presented again; its whole family has been revoked.
	ErrRefreshTokenReused = errors.New("refresh token reused")
	// ErrRefreshTokenRevoked means the token's family was revoked (logout,
	// reuse detection or deactivation).
	ErrRefreshTokenRevoked = errors.New("refresh token revoked")
	// ErrRefreshTokenExpired means the token is past its expiry.
	ErrRefreshTokenExpired = errors.New("refresh token expired")
)

// AuthStore keeps the HTTP layer's authentication state in PostgreSQL: the
// generated JWT signing key, refresh tokens (hashes only) and idempotency
// keys. Its tables are created by migrations/0003_auth.sql.
type AuthStore struct {
	pool *pgxpool.Pool
}

// NewAuthStore returns an AuthStore over pool.
func NewAuthStore(pool *pgxpool.Pool) *AuthStore { return &AuthStore{pool: pool} }

// SigningKey returns the signing key stored under name, creating it with
// generate when there is none. Concurrent first calls (several nodes starting
// at once) all return the same key: the row is inserted with ON CONFLICT DO
// NOTHING and then read back.
func (s *AuthStore) SigningKey(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	var key []byte
	err := s.pool.QueryRow(ctx, `SELECT secret FROM auth_signing_keys WHERE name = $1`, name).Scan(&key)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("read signing key %q: %w", name, err)
	}
	fresh, err := generate()
	if err != nil {
		return nil, fmt.Errorf("generate signing key %q: %w", name, err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO auth_signing_keys (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
		return nil, fmt.Errorf("store signing key %q: %w", name, err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT secret FROM auth_signing_keys WHERE name = $1`, name).Scan(&key); err != nil {
		return nil, fmt.Errorf("read signing key %q: %w", name, err)
	}
	return key, nil
}

// RefreshToken is a stored refresh token. Only the SHA-256 hash of the token
// is ever stored.
type RefreshToken struct {
	Hash      []byte
	FamilyID  uuid.UUID
	UserID    string
	IssuedAt  time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
}

// CreateRefreshToken stores a new refresh token.
func (s *AuthStore) CreateRefreshToken(ctx context.Context, t RefreshToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		t.Hash, t.FamilyID, t.UserID, t.IssuedAt, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

const refreshColumns = `token_hash, family_id, user_id, issued_at, expires_at, used_at, revoked_at`

func scanRefresh(row pgx.Row) (RefreshToken, error) {
	var t RefreshToken
	err := row.Scan(&t.Hash, &t.FamilyID, &t.UserID, &t.IssuedAt, &t.ExpiresAt, &t.UsedAt, &t.RevokedAt)
	return t, err
}

// RefreshTokenByHash returns the refresh token with hash, or
// ErrRefreshTokenNotFound.
func (s *AuthStore) RefreshTokenByHash(ctx context.Context, hash []byte) (RefreshToken, error) {
	t, err := scanRefresh(s.pool.QueryRow(ctx, `SELECT `+refreshColumns+` FROM auth_refresh_tokens WHERE token_hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrRefreshTokenNotFound
	}
	if err != nil {
		return t, fmt.Errorf("read refresh token: %w", err)
	}
	return t, nil
}

// RotateRefreshToken marks the token with oldHash used and stores next (in
// the same family and for the same user) in one transaction. It returns the
// old token. A token that was already used revokes its whole family and
// fails with ErrRefreshTokenReused; a revoked or expired token fails with
// ErrRefreshTokenRevoked or ErrRefreshTokenExpired; an unknown one with
// ErrRefreshTokenNotFound. next.FamilyID and next.UserID are taken from the
// old token.
func (s *AuthStore) RotateRefreshToken(ctx context.Context, oldHash []byte, next RefreshToken, now time.Time) (RefreshToken, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return RefreshToken{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	old, err := scanRefresh(tx.QueryRow(ctx, `SELECT `+refreshColumns+` FROM auth_refresh_tokens WHERE token_hash = $1 FOR UPDATE`, oldHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return old, ErrRefreshTokenNotFound
	}
	if err != nil {
		return old, fmt.Errorf("rotate refresh token: %w", err)
	}
	var closed bool // see RefreshFamilyOpen
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth_refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL)`,
		old.FamilyID).Scan(&closed); err != nil {
		return old, fmt.Errorf("rotate refresh token: %w", err)
	}
	switch {
	case old.RevokedAt != nil, closed:
		return old, ErrRefreshTokenRevoked
	case old.UsedAt != nil:
		if _, err := tx.Exec(ctx, `UPDATE auth_refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`, old.FamilyID, now); err != nil {
			return old, fmt.Errorf("rotate refresh token: revoke family: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return old, fmt.Errorf("rotate refresh token: revoke family: %w", err)
		}
		return old, ErrRefreshTokenReused
	case !now.Before(old.ExpiresAt):
		return old, ErrRefreshTokenExpired
	}
	if _, err := tx.Exec(ctx, `UPDATE auth_refresh_tokens SET used_at = $2 WHERE token_hash = $1`, oldHash, now); err != nil {
		return old, fmt.Errorf("rotate refresh token: mark used: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO auth_refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		next.Hash, old.FamilyID, old.UserID, next.IssuedAt, next.ExpiresAt); err != nil {
		return old, fmt.Errorf("rotate refresh token: insert: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return old, fmt.Errorf("rotate refresh token: commit: %w", err)
	}
	return old, nil
}

// RefreshFamilyOpen reports whether a family (one sign-in) is still open:
// it has tokens and none of them was revoked. A family whose rows were
// purged (long expired) is closed. Revocation marks every token of the
// family, but a rotation racing with it can add one the revocation did not
// see: one revoked token closes the family.
func (s *AuthStore) RefreshFamilyOpen(ctx context.Context, familyID uuid.UUID) (bool, error) {
	var open bool
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(bool_and(revoked_at IS NULL), false) FROM auth_refresh_tokens WHERE family_id = $1`,
		familyID).Scan(&open); err != nil {
		return false, fmt.Errorf("refresh family open: %w", err)
	}
	return open, nil
}

// RevokeRefreshFamily revokes every token of a family.
func (s *AuthStore) RevokeRefreshFamily(ctx context.Context, familyID uuid.UUID, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE auth_refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`, familyID, now); err != nil {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return nil
}

// RevokeUserRefreshTokens revokes every refresh token of a user except
// those of family keep (uuid.Nil: none kept): after a password change (the
// session that made it is kept) or a deactivation.
func (s *AuthStore) RevokeUserRefreshTokens(ctx context.Context, userID string, keep uuid.UUID, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE auth_refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND family_id <> $3 AND revoked_at IS NULL`,
		userID, now, keep); err != nil {
		return fmt.Errorf("revoke refresh tokens of user: %w", err)
	}
	return nil
}

// IdempotencyRecord is a stored POST request and, once completed, its
// response. Status 0 means the first request is still executing.
type IdempotencyRecord struct {
	UserID      string
	Key         string
	Method      string
	Path        string
	RequestHash []byte
	Status      int
	Headers     map[string]string
	Body        []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// BeginIdempotent claims (rec.UserID, rec.Key) with a pending row. It
// returns (nil, nil) when the caller won the claim and must execute the
// request, or the existing record when the key was already used (pending or
// completed). An expired record is replaced.
func (s *AuthStore) BeginIdempotent(ctx context.Context, rec IdempotencyRecord, now time.Time) (*IdempotencyRecord, error) {
	for attempt := 0; attempt < 3; attempt++ {
		tag, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, method, path, request_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id, key) DO NOTHING`,
			rec.UserID, rec.Key, rec.Method, rec.Path, rec.RequestHash, now, rec.ExpiresAt)
		if err != nil {
			return nil, fmt.Errorf("begin idempotent request: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return nil, nil
		}
		var (
			got     IdempotencyRecord
			status  *int
			headers []byte
		)
		err = s.pool.QueryRow(ctx, `SELECT user_id, key, method, path, request_hash, status, headers, body, created_at, expires_at
			FROM idempotency_keys WHERE user_id = $1 AND key = $2`, rec.UserID, rec.Key).
			Scan(&got.UserID, &got.Key, &got.Method, &got.Path, &got.RequestHash, &status, &headers, &got.Body, &got.CreatedAt, &got.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // deleted meanwhile (abandoned or expired): claim again
		}
		if err != nil {
			return nil, fmt.Errorf("begin idempotent request: read: %w", err)
		}
		if !now.Before(got.ExpiresAt) {
			if _, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND expires_at <= $3`, rec.UserID, rec.Key, now); err != nil {
				return nil, fmt.Errorf("begin idempotent request: purge expired: %w", err)
			}
			continue
		}
		if status != nil {
			got.Status = *status
		}
		if len(headers) > 0 {
			if err := json.Unmarshal(headers, &got.Headers); err != nil {
				return nil, fmt.Errorf("begin idempotent request: decode headers: %w", err)
			}
		}
		return &got, nil
	}
	return nil, fmt.Errorf("begin idempotent request: key %q keeps changing", rec.Key)
}

// CompleteIdempotent stores the response of the request that claimed the key.
func (s *AuthStore) CompleteIdempotent(ctx context.Context, userID, key string, status int, headers map[string]string, body []byte) error {
	h, err := json.Marshal(headers)
	if err != nil {
		return fmt.Errorf("complete idempotent request: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET status = $3, headers = $4, body = $5 WHERE user_id = $1 AND key = $2`,
		userID, key, status, h, body); err != nil {
		return fmt.Errorf("complete idempotent request: %w", err)
	}
	return nil
}

// AbandonIdempotent deletes a pending claim (the request failed in a way a
// retry should execute again).
func (s *AuthStore) AbandonIdempotent(ctx context.Context, userID, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status IS NULL`, userID, key); err != nil {
		return fmt.Errorf("abandon idempotent request: %w", err)
	}
	return nil
}

// PurgeExpired deletes expired idempotency keys and refresh tokens that
// expired more than a day ago. It returns the number of rows deleted.
func (s *AuthStore) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	a, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	b, err := s.pool.Exec(ctx, `DELETE FROM auth_refresh_tokens WHERE expires_at <= $1`, now.Add(-24*time.Hour))
	if err != nil {
		return 0, fmt.Errorf("purge refresh tokens: %w", err)
	}
	return a.RowsAffected() + b.RowsAffected(), nil
}

// Ping checks that the database answers.
func (s *AuthStore) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}
