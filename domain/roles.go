package domain

import "time"

// Role is a user's role. Roles are ordered only where the rules say so; use
// the Can* helpers rather than comparing strings.
type Role string

// Roles.
const (
	RoleReader  Role = "reader"
	RoleAuthor  Role = "author"
	RoleEditor  Role = "editor"
	RoleAuditor Role = "auditor"
	RoleAdmin   Role = "admin"
	// RoleSystem is used by the scheduler and other internal actors. It is
	// never assigned to a user account.
	RoleSystem Role = "system"
)

// Roles lists the roles a user account can hold, in the order shown to admins.
var Roles = []Role{RoleReader, RoleAuthor, RoleEditor, RoleAuditor, RoleAdmin}

// Valid reports whether r is a role a user account can hold.
func (r Role) Valid() bool {
	switch r {
	case RoleReader, RoleAuthor, RoleEditor, RoleAuditor, RoleAdmin:
		return true
	}
	return false
}

// CanWritePosts reports whether r may draft posts (author and up; auditors change nothing).
func (r Role) CanWritePosts() bool {
	return r == RoleAuthor || r == RoleEditor || r == RoleAdmin
}

// CanEditAnyPost reports whether r may edit and manage posts it does not own.
func (r Role) CanEditAnyPost() bool { return r == RoleEditor || r == RoleAdmin }

// CanPublish reports whether r may publish, schedule, unpublish, archive and restore posts.
func (r Role) CanPublish() bool { return r == RoleEditor || r == RoleAdmin || r == RoleSystem }

// CanReadAll reports whether r may read every post in any state, history and audit data.
func (r Role) CanReadAll() bool { return r == RoleEditor || r == RoleAuditor || r == RoleAdmin }

// CanAudit reports whether r may read the audit log and raw events.
func (r Role) CanAudit() bool { return r == RoleAuditor || r == RoleAdmin }

// CanManageUsers reports whether r may change roles and (de)activate users.
func (r Role) CanManageUsers() bool { return r == RoleAdmin }

// Actor is whoever causes a command: a signed-in user, an anonymous visitor
// (empty ID, RoleReader) or the system.
type Actor struct {
	ID   string // user UUID; "system" for SystemActor; empty for anonymous
	Role Role
}

// SystemActor is the actor of scheduled and internal operations.
var SystemActor = Actor{ID: "system", Role: RoleSystem}

// Anonymous reports whether the actor is not signed in.
func (a Actor) Anonymous() bool { return a.ID == "" }

// Metadata travels with every stored event (DESIGN.md §3).
type Metadata struct {
	ActorID       string    `json:"actor_id"`
	ActorRole     Role      `json:"actor_role"`
	CorrelationID string    `json:"correlation_id"`
	CausationID   string    `json:"causation_id"`
	OccurredAt    time.Time `json:"occurred_at"`
	Schema        int       `json:"schema"`
}
