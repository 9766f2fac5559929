// Package queries defines Palimpsest's read side as the HTTP layer sees it:
// the DTOs returned by the query endpoints (JSON field names as in API.md),
// the filters they accept and the Finder interface. Package postgres
// implements Finder over the read tables the projections maintain.
package queries

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// List limits (API.md "Lists").
const (
	// DefaultLimit is the page size when a list request names none.
	DefaultLimit = 20
	// MaxLimit is the largest page size a list returns.
	MaxLimit = 100
)

// NormalizeLimit maps a requested page size to the one served: DefaultLimit
// for zero or negative values, at most MaxLimit.
func NormalizeLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// Finder is what the HTTP layer reads through. Lists page with opaque keyset
// cursors; a malformed cursor is a *domain.Error of KindInvalid with code
// "invalid_cursor". Unknown things are *domain.Error of KindNotFound.
// Finder applies no authorization: callers decide what an actor may see
// (PostFilter carries the visibility the caller computed).
type Finder interface {
	// ListPosts lists posts newest first, or by relevance when filter.Q is set.
	ListPosts(ctx context.Context, filter PostFilter) (Page[PostSummary], error)
	// GetPost returns one post by UUID or slug, in any status.
	GetPost(ctx context.Context, idOrSlug string) (Post, error)
	// ListRevisions lists a post's content snapshots by ascending revision,
	// without bodies.
	ListRevisions(ctx context.Context, postID string, limit int, cursor string) (Page[Revision], error)
	// GetRevision returns revision n of a post with its body.
	GetRevision(ctx context.Context, postID string, n int) (Revision, error)
	// ListHistory returns every event of a post, oldest first.
	ListHistory(ctx context.Context, postID string) ([]HistoryEntry, error)
	// SeekHistory returns one page of a post's timeline, keyed by event
	// version.
	SeekHistory(ctx context.Context, postID string, seek Seek) (Window[HistoryEntry], error)
	// SeekRevisions returns one page of a post's content snapshots, keyed
	// by revision number, without bodies.
	SeekRevisions(ctx context.Context, postID string, seek Seek) (Window[Revision], error)
	// ListAudit lists events of every stream, newest first.
	ListAudit(ctx context.Context, filter AuditFilter) (Page[AuditEntry], error)
	// ListUsers lists user accounts by username.
	ListUsers(ctx context.Context, filter UserFilter) (Page[User], error)
	// GetUser returns one user by UUID or username.
	GetUser(ctx context.Context, idOrUsername string) (User, error)
	// ListTags returns the tags of published posts with their counts, most
	// used first.
	ListTags(ctx context.Context) ([]Tag, error)
}

// Page is one page of a list. NextCursor is nil on the last page.
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// UserRef names a user in another DTO (a post's author, a revision's editor,
// an event's actor). Username and DisplayName are empty when the ID is not a
// known user account (e.g. "system").
type UserRef struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
}

// Post is the current state of one post (GET /api/v1/posts/{id-or-slug}).
type Post struct {
	ID           string            `json:"id"`
	Slug         string            `json:"slug"`
	Title        string            `json:"title"`
	Excerpt      string            `json:"excerpt"`
	Body         string            `json:"body"`
	BodyHTML     string            `json:"body_html"`
	Tags         []string          `json:"tags"`
	Status       domain.PostStatus `json:"status"`
	Author       UserRef           `json:"author"`
	Version      uint64            `json:"version"`
	Revision     int               `json:"revision"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	PublishedAt  *time.Time        `json:"published_at"`
	ScheduledFor *time.Time        `json:"scheduled_for"`
	DeletedAt    *time.Time        `json:"deleted_at,omitempty"`
	// FeatureMediaID is the feature image's media id, "" when none; the HTTP
	// layer looks up its renditions only when it is set.
	FeatureMediaID string `json:"-"`
	// FeatureImage is the feature image with its media item when the
	// Finder read it together with the post (postgres.Reader does, in the
	// same query); nil when there is none or the Finder leaves it to
	// MediaLinkFinder.FeatureImages.
	FeatureImage *MediaLink `json:"-"`
}

// PostSummary is a post in a list: everything but the body.
type PostSummary struct {
	ID           string            `json:"id"`
	Slug         string            `json:"slug"`
	Title        string            `json:"title"`
	Excerpt      string            `json:"excerpt"`
	Tags         []string          `json:"tags"`
	Status       domain.PostStatus `json:"status"`
	Author       UserRef           `json:"author"`
	Version      uint64            `json:"version"`
	Revision     int               `json:"revision"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	PublishedAt  *time.Time        `json:"published_at"`
	ScheduledFor *time.Time        `json:"scheduled_for"`
	// FeatureMediaID is the feature image's media id, "" when none.
	FeatureMediaID string `json:"-"`
	// FeatureImage is as in Post: read with the list when the Finder can.
	FeatureImage *MediaLink `json:"-"`
}

// Revision kinds.
const (
	RevisionDrafted  = "drafted"
	RevisionEdited   = "edited"
	RevisionReverted = "reverted"
)

// Revision is one content snapshot of a post. Body is filled only by
// GetRevision.
type Revision struct {
	PostID       string    `json:"post_id"`
	Revision     int       `json:"revision"`
	Version      uint64    `json:"version"`
	Kind         string    `json:"kind"`
	RevertedFrom *int      `json:"reverted_from,omitempty"`
	Title        string    `json:"title"`
	Excerpt      string    `json:"excerpt"`
	Body         string    `json:"body,omitempty"`
	Tags         []string  `json:"tags"`
	Author       UserRef   `json:"author"`
	Editor       UserRef   `json:"editor"`
	At           time.Time `json:"at"`
	Note         string    `json:"note"`
	Size         int       `json:"size"`
	EventID      string    `json:"event_id"`
	Position     uint64    `json:"position"`
}

// HistoryEntry is one event in a post's timeline.
type HistoryEntry struct {
	Version       uint64      `json:"version"`
	Type          string      `json:"type"`
	Actor         UserRef     `json:"actor"`
	ActorRole     domain.Role `json:"actor_role"`
	At            time.Time   `json:"at"`
	CorrelationID string      `json:"correlation_id"`
	CausationID   string      `json:"causation_id"`
	Summary       string      `json:"summary"`
	EventID       string      `json:"event_id"`
	Position      uint64      `json:"position"`
}

// Seek selects one page of a post's timeline or revisions by keyset: the
// Limit entries next to an exclusive bound on their key (event version or
// revision number), so every page costs one index range scan however long
// the post's history is.
type Seek struct {
	// Limit is the page length (see NormalizeLimit).
	Limit int
	// Backward pages from the newest entries towards the oldest: the page
	// holds the newest entries whose key is below Bound. Otherwise the page
	// holds the oldest entries whose key is above Bound.
	Backward bool
	// Bound is the exclusive key bound, usually the key of the first (when
	// Backward) or last entry of the neighbouring page. 0 starts at the
	// newest entry when Backward and at the oldest otherwise.
	Bound uint64
}

// Window is one page of a keyed list, oldest first, with what lies beyond
// its ends.
type Window[T any] struct {
	Items []T
	// Older reports entries older than the page (than its bound when the
	// page is empty); Newer, entries newer than it.
	Older, Newer bool
}

// AuditEntry is one event of any stream in the audit log. It never carries
// payloads (no password hashes can leak through it).
type AuditEntry struct {
	Position      uint64      `json:"position"`
	EventID       string      `json:"event_id"`
	StreamID      string      `json:"stream_id"`
	StreamVersion uint64      `json:"stream_version"`
	Type          string      `json:"type"`
	Actor         UserRef     `json:"actor"`
	ActorRole     domain.Role `json:"actor_role"`
	CorrelationID string      `json:"correlation_id"`
	CausationID   string      `json:"causation_id"`
	At            time.Time   `json:"at"`
	RecordedAt    time.Time   `json:"recorded_at"`
}

// User is a user account as admins and auditors see it. It never carries
// the password hash.
type User struct {
	ID          string            `json:"id"`
	Email       string            `json:"email"`
	Username    string            `json:"username"`
	DisplayName string            `json:"display_name"`
	Bio         string            `json:"bio"`
	Role        domain.Role       `json:"role"`
	Status      domain.UserStatus `json:"status"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// Tag is a tag of published posts and how many published posts carry it.
type Tag struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// PostFilter selects posts for ListPosts.
//
// Visibility: with IncludeAll every status is visible (editors, auditors,
// admins); otherwise a post is visible when its status is in Statuses
// (default: published only) or, when AuthorID is set, when the caller wrote
// it (authors see their own drafts). Status then narrows the visible posts
// to one status. Deleted posts are listed only when Status or Statuses name
// "deleted" explicitly.
type PostFilter struct {
	Tag        string              // exact tag
	Author     string              // author's username
	Q          string              // full-text query (websearch syntax)
	Status     domain.PostStatus   // only this status
	Statuses   []domain.PostStatus // visible statuses when !IncludeAll
	AuthorID   string              // also show this author's posts in any status
	IncludeAll bool                // every status is visible
	Limit      int
	Cursor     string
}

// AuditFilter selects audit entries for ListAudit.
type AuditFilter struct {
	Actor  string     // actor id (UUID or "system") or username
	Type   string     // event type, e.g. "PostPublished"
	Stream string     // exact stream id, or a prefix ending in "-" (e.g. "post-")
	Since  *time.Time // occurred at or after
	Until  *time.Time // occurred before
	Limit  int
	Cursor string
}

// UserFilter selects users for ListUsers.
type UserFilter struct {
	Role   domain.Role       // only this role
	Status domain.UserStatus // only this status
	Q      string            // substring of username, display name or email
	Limit  int
	Cursor string
}
