package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// auditCursor is the position of the last entry of a page.
type auditCursor struct {
	Position int64 `json:"p"`
}

// ListAudit implements queries.Finder: events of every stream, newest first.
// Actor matches an actor id (a UUID or "system") or a username; Stream
// matches exactly, or as a prefix when it ends in "-" ("post-", "user-").
func (r *Reader) ListAudit(ctx context.Context, f queries.AuditFilter) (queries.Page[queries.AuditEntry], error) {
	var page queries.Page[queries.AuditEntry]
	limit := queries.NormalizeLimit(f.Limit)
	var cur auditCursor
	hasCursor, err := decodeCursor(f.Cursor, &cur)
	if err != nil {
		return page, err
	}
	if hasCursor && cur.Position < 1 {
		return page, errInvalidCursor()
	}
	if !validText(f.Actor, f.Type, f.Stream) {
		page.Items = []queries.AuditEntry{}
		return page, nil
	}
	var a args
	var where []string
	if f.Actor != "" {
		if id, ok := parseUUID(f.Actor); ok {
			where = append(where, "l.actor_id = "+a.add(id))
		} else if f.Actor == domain.SystemActor.ID {
			where = append(where, "l.actor_id = "+a.add(f.Actor))
		} else {
			where = append(where, "l.actor_id = (SELECT id::text FROM users WHERE username = "+a.add(f.Actor)+")")
		}
	}
	if f.Type != "" {
		where = append(where, "l.type = "+a.add(f.Type))
	}
	if f.Stream != "" {
		if strings.HasSuffix(f.Stream, "-") {
			where = append(where, "l.stream_id LIKE "+a.add(escapeLike(f.Stream)+"%"))
		} else {
			where = append(where, "l.stream_id = "+a.add(f.Stream))
		}
	}
	if f.Since != nil {
		where = append(where, "l.at >= "+a.add(f.Since.UTC()))
	}
	if f.Until != nil {
		where = append(where, "l.at < "+a.add(f.Until.UTC()))
	}
	if hasCursor {
		where = append(where, "l.position < "+a.add(cur.Position))
	}
	sql := `SELECT l.position, l.event_id::text, l.stream_id, l.stream_version, l.type, l.actor_id,
	coalesce(u.username, ''), coalesce(u.display_name, ''), l.actor_role, l.correlation_id, l.causation_id, l.at, l.recorded_at
FROM audit_log l` + joinUserByText("u", "l.actor_id")
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY l.position DESC LIMIT " + a.add(limit+1)
	rows, err := r.pool.Query(ctx, sql, a...)
	if err != nil {
		return page, fmt.Errorf("list audit log: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (queries.AuditEntry, error) {
		var e queries.AuditEntry
		var pos, ver int64
		var role string
		err := row.Scan(&pos, &e.EventID, &e.StreamID, &ver, &e.Type, &e.Actor.ID, &e.Actor.Username, &e.Actor.DisplayName,
			&role, &e.CorrelationID, &e.CausationID, &e.At, &e.RecordedAt)
		e.Position, e.StreamVersion, e.ActorRole = uint64(pos), uint64(ver), domain.Role(role)
		e.At, e.RecordedAt = e.At.UTC(), e.RecordedAt.UTC()
		return e, err
	})
	if err != nil {
		return page, fmt.Errorf("list audit log: %w", err)
	}
	if len(entries) > limit {
		entries = entries[:limit]
		page.NextCursor = encodeCursor(auditCursor{Position: int64(entries[limit-1].Position)})
	}
	if entries == nil {
		entries = []queries.AuditEntry{}
	}
	page.Items = entries
	return page, nil
}
