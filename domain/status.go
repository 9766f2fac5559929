package domain

// PostStatus is a post's workflow state.
type PostStatus string

// Post statuses.
const (
	StatusDraft     PostStatus = "draft"
	StatusInReview  PostStatus = "in_review"
	StatusScheduled PostStatus = "scheduled"
	StatusPublished PostStatus = "published"
	StatusArchived  PostStatus = "archived"
	StatusDeleted   PostStatus = "deleted"
)

// Valid reports whether s is a known status.
func (s PostStatus) Valid() bool {
	switch s {
	case StatusDraft, StatusInReview, StatusScheduled, StatusPublished, StatusArchived, StatusDeleted:
		return true
	}
	return false
}

// UserStatus is a user account's state.
type UserStatus string

// User statuses.
const (
	UserStatusActive      UserStatus = "active"
	UserStatusDeactivated UserStatus = "deactivated"
)
