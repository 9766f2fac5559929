package projections

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// UsersName is the users projection's versioned name.
//
// WARNING: the name is the projection's checkpoint key. Change the tables or
// semantics only under a new name (users_v2) and rebuild.
const UsersName = "users_v1"

// Users projects user streams into the users table. Password hashes are
// never stored: UserRegistered's hash is dropped and UserPasswordChanged only
// advances the version.
type Users struct{}

// NewUsers returns the users projection.
func NewUsers() *Users { return &Users{} }

// Name implements Projection.
func (*Users) Name() string { return UsersName }

// Tables implements Projection.
func (*Users) Tables() []string { return []string{"users"} }

// StreamPrefixes implements Projection.
func (*Users) StreamPrefixes() []string { return []string{domain.UserStreamPrefix} }

const sqlUserRegistered = `INSERT INTO users (id, email, username, display_name, role, status,
	created_at, updated_at, version, last_position)
VALUES ($1, $2, $3, $4, $5, 'active', $6, $6, $7, $8)
ON CONFLICT (id) DO NOTHING`

// userUpdateSQL builds an update guarded by last_position; set may use $5.
func userUpdateSQL(set string) string {
	if set != "" {
		set += ", "
	}
	return `UPDATE users SET ` + set + `version = $3, updated_at = $4, last_position = $2
WHERE id = $1 AND last_position < $2`
}

var (
	sqlUserTouch       = userUpdateSQL("")
	sqlUserRole        = userUpdateSQL("role = $5")
	sqlUserStatus      = userUpdateSQL("status = $5")
	sqlUserAvatar      = userUpdateSQL("avatar_media_id = NULLIF($5, '')::uuid, avatar_hash = $6")
	sqlUserDisplayName = `UPDATE users SET display_name = $5, bio = $6, version = $3, updated_at = $4, last_position = $2
WHERE id = $1 AND last_position < $2`
)

// Apply implements Projection.
func (*Users) Apply(ctx context.Context, tx pgx.Tx, ev Event) error {
	if ev.Payload == nil {
		return fmt.Errorf("users projection: event %s (%s) at %d: unknown event type", ev.ID, ev.Type, ev.Position)
	}
	id, ok := strings.CutPrefix(ev.StreamID, domain.UserStreamPrefix)
	if !ok || len(id) != 36 {
		return fmt.Errorf("users projection: event %s: stream %q is not a user stream", ev.ID, ev.StreamID)
	}
	pos, at, ver := int64(ev.Position), ev.OccurredAt(), int64(ev.Version)
	var sql string
	args := []any{id, pos, ver, at}
	switch e := ev.Payload.(type) {
	case domain.UserRegistered:
		role := e.Role
		if role == "" {
			role = domain.RoleReader
		}
		sql = sqlUserRegistered
		args = []any{id, e.Email, e.Username, e.DisplayName, string(role), at, ver, pos}
	case domain.UserProfileUpdated:
		sql = sqlUserDisplayName
		args = append(args, e.DisplayName, e.Bio)
	case domain.UserRoleChanged:
		sql = sqlUserRole
		args = append(args, string(e.To))
	case domain.UserDeactivated:
		sql = sqlUserStatus
		args = append(args, string(domain.UserStatusDeactivated))
	case domain.UserReactivated:
		sql = sqlUserStatus
		args = append(args, string(domain.UserStatusActive))
	case domain.UserAvatarChanged:
		sql = sqlUserAvatar
		args = append(args, e.MediaID, e.Hash)
	default: // UserPasswordChanged and anything newer: only the version moves.
		sql = sqlUserTouch
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("users projection: apply %s at %d to user %s: %w", ev.Type, ev.Position, id, err)
	}
	return nil
}
