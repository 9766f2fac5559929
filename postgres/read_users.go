package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// userCursor is the username of the last user of a page.
type userCursor struct {
	Username string `json:"u"`
}

const userColumns = `id::text, email, username, display_name, bio, role, status, created_at, updated_at FROM users`

func scanUser(row pgx.Row) (queries.User, error) {
	var u queries.User
	var role, status string
	err := row.Scan(&u.ID, &u.Email, &u.Username, &u.DisplayName, &u.Bio, &role, &status, &u.CreatedAt, &u.UpdatedAt)
	u.Role, u.Status = domain.Role(role), domain.UserStatus(status)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, err
}

// ListUsers implements queries.Finder: users by username.
func (r *Reader) ListUsers(ctx context.Context, f queries.UserFilter) (queries.Page[queries.User], error) {
	var page queries.Page[queries.User]
	limit := queries.NormalizeLimit(f.Limit)
	var cur userCursor
	hasCursor, err := decodeCursor(f.Cursor, &cur)
	if err != nil {
		return page, err
	}
	if hasCursor && (cur.Username == "" || !validText(cur.Username)) {
		return page, errInvalidCursor()
	}
	if f.Role != "" && !f.Role.Valid() {
		return page, domain.Invalid("invalid_role", "unknown role", map[string][]string{"role": {"must be one of reader, author, editor, auditor, admin"}})
	}
	if f.Status != "" && f.Status != domain.UserStatusActive && f.Status != domain.UserStatusDeactivated {
		return page, domain.Invalid("invalid_status", "unknown user status", map[string][]string{"status": {"must be active or deactivated"}})
	}
	var a args
	var where []string
	if f.Role != "" {
		where = append(where, "role = "+a.add(string(f.Role)))
	}
	if f.Status != "" {
		where = append(where, "status = "+a.add(string(f.Status)))
	}
	if q := searchText(f.Q); q != "" {
		p := a.add("%" + escapeLike(q) + "%")
		where = append(where, "(username ILIKE "+p+" OR display_name ILIKE "+p+" OR email ILIKE "+p+")")
	}
	if hasCursor {
		where = append(where, "username > "+a.add(cur.Username))
	}
	sql := "SELECT " + userColumns
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY username LIMIT " + a.add(limit+1)
	rows, err := r.pool.Query(ctx, sql, a...)
	if err != nil {
		return page, fmt.Errorf("list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (queries.User, error) { return scanUser(row) })
	if err != nil {
		return page, fmt.Errorf("list users: %w", err)
	}
	if len(users) > limit {
		users = users[:limit]
		page.NextCursor = encodeCursor(userCursor{Username: users[limit-1].Username})
	}
	if users == nil {
		users = []queries.User{}
	}
	page.Items = users
	return page, nil
}

// GetUser implements queries.Finder: by id when idOrUsername is a UUID,
// else by username; unknown users are KindNotFound "user_not_found".
func (r *Reader) GetUser(ctx context.Context, idOrUsername string) (queries.User, error) {
	if !validText(idOrUsername) {
		return queries.User{}, domain.Errorf(domain.KindNotFound, "user_not_found", "no user %q", idOrUsername)
	}
	where := " WHERE username = $1"
	arg := idOrUsername
	if id, ok := parseUUID(idOrUsername); ok {
		where, arg = " WHERE id = $1", id
	}
	u, err := scanUser(r.pool.QueryRow(ctx, "SELECT "+userColumns+where, arg))
	if notFound(err) {
		return u, domain.Errorf(domain.KindNotFound, "user_not_found", "no user %q", idOrUsername)
	}
	if err != nil {
		return u, fmt.Errorf("get user %s: %w", idOrUsername, err)
	}
	return u, nil
}
