package domain

import (
	"slices"
	"strconv"
	"time"
)

// Post is the post aggregate: its state is the fold of its stream's events and
// its decision methods check the rules of DESIGN.md §4 before recording new
// events. Decision methods either record exactly one event and return nil, or
// record nothing and return a *Error.
//
// Restore rule: a restored post returns to the status it had before it was
// deleted or archived, except that a post which was published or scheduled
// comes back as a draft: restoring never makes content public as a side
// effect (and a schedule may have passed meanwhile); publishing it again is an
// explicit editorial decision. A post deleted while archived is restored to
// archived, and a second restore brings it back from the archive.
type Post struct {
	ID       string
	AuthorID string
	Slug     string
	Status   PostStatus
	// Content is the current content, equal to Revisions[Revision-1].
	Content PostContent
	// Revision is the current revision number (1 = drafted; +1 per edit and revert).
	Revision int
	// Revisions holds the content of every revision: Revisions[i] is revision i+1.
	// Its elements are never modified in place.
	Revisions []PostContent
	// Version is the stream version: the number of events folded, including
	// pending ones (see Changes).
	Version   uint64
	CreatedAt time.Time
	UpdatedAt time.Time
	// PublishedAt is when the post was last published; zero unless it is
	// published (or archived or deleted while published).
	PublishedAt time.Time
	// ScheduledFor is the publication time while the post is scheduled, zero otherwise.
	ScheduledFor time.Time
	// ArchivedFrom is the status the post had when it was last archived.
	ArchivedFrom PostStatus
	// DeletedFrom is the status the post had when it was last deleted.
	DeletedFrom PostStatus
	// FeatureImage is the post's feature image (see post_media.go).
	FeatureImage FeatureImage

	changeLog
}

// NewPostFromHistory folds a post's stored events, oldest first. It returns
// nil when history is empty.
func NewPostFromHistory(history []EventAt) *Post {
	if len(history) == 0 {
		return nil
	}
	p := &Post{}
	for _, e := range history {
		p.Apply(e.Event, e.OccurredAt)
	}
	return p
}

// Clone returns a copy of p without pending changes that shares no mutable
// state with p: later decisions on either never affect the other. It is O(1)
// because revision contents are never modified in place.
func (p *Post) Clone() *Post {
	c := *p
	c.Revisions = p.Revisions[:len(p.Revisions):len(p.Revisions)]
	c.changes = nil
	return &c
}

// OriginalVersion is the stream version before the pending changes: the
// expected version to append them at.
func (p *Post) OriginalVersion() uint64 { return p.Version - uint64(len(p.changes)) }

// Apply folds one stored event into the state; at is when it occurred. Events
// of unknown types only advance the version.
func (p *Post) Apply(e Event, at time.Time) {
	p.Version++
	p.UpdatedAt = at
	switch e := e.(type) {
	case PostDrafted:
		p.ID, p.AuthorID, p.Slug = e.PostID, e.AuthorID, e.Slug
		p.Status = StatusDraft
		p.Content = e.PostContent
		p.Revisions = []PostContent{e.PostContent}
		p.Revision = 1
		p.CreatedAt = at
	case PostEdited:
		p.setContent(e.PostContent, e.Revision)
	case PostReverted:
		p.setContent(e.PostContent, e.Revision)
	case PostSlugChanged:
		p.Slug = e.Slug
	case PostSubmittedForReview:
		p.Status = StatusInReview
	case PostChangesRequested:
		p.Status = StatusDraft
	case PostPublished:
		p.Status = StatusPublished
		p.PublishedAt = e.PublishedAt
		p.ScheduledFor = time.Time{}
	case PostScheduled:
		p.Status = StatusScheduled
		p.ScheduledFor = e.PublishAt
	case PostUnpublished:
		p.Status = StatusDraft
		p.PublishedAt = time.Time{}
		p.ScheduledFor = time.Time{}
	case PostArchived:
		p.ArchivedFrom = e.PreviousStatus
		p.Status = StatusArchived
	case PostDeleted:
		p.DeletedFrom = e.PreviousStatus
		p.Status = StatusDeleted
	case PostRestored:
		p.Status = e.Status
		if e.Status != StatusPublished && e.Status != StatusArchived {
			p.PublishedAt = time.Time{}
		}
		if e.Status != StatusScheduled {
			p.ScheduledFor = time.Time{}
		}
	default:
		p.applyMedia(e)
	}
}

func (p *Post) setContent(c PostContent, revision int) {
	p.Content = c
	p.Revisions = append(p.Revisions, c)
	p.Revision = len(p.Revisions)
	if revision > 0 {
		p.Revision = revision
	}
}

// record applies e and keeps it as a pending change.
func (p *Post) record(e Event, now time.Time) {
	p.Apply(e, now)
	p.changes = append(p.changes, EventAt{Event: e, OccurredAt: now})
}

// DraftPost decides the creation of a post by actor (author, editor or admin)
// with the given ID, slug and content (normalized and validated here). The
// slug's uniqueness is the caller's business (reservation streams).
func DraftPost(actor Actor, postID, slug string, content PostContent, now time.Time) (*Post, error) {
	if !actor.Role.CanWritePosts() || actor.Anonymous() {
		return nil, forbidden("role %q may not write posts", actor.Role)
	}
	if postID == "" {
		return nil, Invalid("invalid_post", "the post ID is missing", map[string][]string{"id": {"is required"}})
	}
	content = NormalizeContent(content)
	if err := ValidateContent(content); err != nil {
		return nil, err
	}
	if err := ValidateSlug(slug); err != nil {
		return nil, err
	}
	p := &Post{}
	p.record(PostDrafted{PostID: postID, AuthorID: actor.ID, Slug: slug, PostContent: content, Revision: 1}, now)
	return p, nil
}

// CanEdit reports whether actor may change p's content and slug: its author
// while holding a writing role, or an editor or admin.
func (p *Post) CanEdit(actor Actor) bool { return p.checkEdit(actor) == nil }

func (p *Post) checkEdit(actor Actor) error {
	if actor.Role.CanEditAnyPost() {
		return nil
	}
	if !actor.Role.CanWritePosts() || actor.Anonymous() {
		return forbidden("role %q may not edit posts", actor.Role)
	}
	if actor.ID != p.AuthorID {
		return Errorf(KindForbidden, "not_owner", "only the post's author, an editor or an admin may change it")
	}
	return nil
}

func (p *Post) checkManage(actor Actor, what string) error {
	if !actor.Role.CanEditAnyPost() {
		return forbidden("role %q may not %s posts", actor.Role, what)
	}
	return nil
}

func (p *Post) checkChangeable() error {
	switch p.Status {
	case StatusDeleted:
		return invalidTransition("the post is deleted; restore it first")
	case StatusArchived:
		return invalidTransition("the post is archived; restore it first")
	}
	return nil
}

// Edit decides a content change by actor. content is the full new content
// (normalized and validated here); an edit that changes nothing is refused
// with code "no_changes". Editing a published post keeps it published.
func (p *Post) Edit(actor Actor, content PostContent, note string, now time.Time) error {
	if err := p.checkEdit(actor); err != nil {
		return err
	}
	if err := p.checkChangeable(); err != nil {
		return err
	}
	content = NormalizeContent(content)
	if err := ValidateContent(content); err != nil {
		return err
	}
	if err := validateText("note", "invalid_note", note, 0, MaxNoteChars); err != nil {
		return err
	}
	if ContentEqual(content, p.Content) {
		return noChanges("the edit changes nothing")
	}
	p.record(PostEdited{PostContent: content, Note: note, Revision: p.Revision + 1}, now)
	return nil
}

// Revert decides a new revision whose content equals revision's. An unknown
// revision is refused with code "unknown_revision", a revert to the current
// content with "no_changes".
func (p *Post) Revert(actor Actor, revision int, note string, now time.Time) error {
	if err := p.checkEdit(actor); err != nil {
		return err
	}
	if err := p.checkChangeable(); err != nil {
		return err
	}
	if revision < 1 || revision > len(p.Revisions) {
		return Invalid("unknown_revision", "the post has no such revision", map[string][]string{"revision": {"must be 1.." + strconv.Itoa(len(p.Revisions))}})
	}
	if err := validateText("note", "invalid_note", note, 0, MaxNoteChars); err != nil {
		return err
	}
	target := p.Revisions[revision-1]
	if ContentEqual(target, p.Content) {
		return noChanges("revision %d equals the current content", revision)
	}
	p.record(PostReverted{TargetRevision: revision, PostContent: target, Note: note, Revision: p.Revision + 1}, now)
	return nil
}

// ChangeSlug decides a new slug. Its uniqueness is the caller's business.
func (p *Post) ChangeSlug(actor Actor, slug string, now time.Time) error {
	if err := p.checkEdit(actor); err != nil {
		return err
	}
	if err := p.checkChangeable(); err != nil {
		return err
	}
	if err := ValidateSlug(slug); err != nil {
		return err
	}
	if slug == p.Slug {
		return noChanges("the post already has this slug")
	}
	p.record(PostSlugChanged{OldSlug: p.Slug, Slug: slug}, now)
	return nil
}

// Submit decides draft → in_review, by the post's author or an editor or admin.
func (p *Post) Submit(actor Actor, now time.Time) error {
	if err := p.checkEdit(actor); err != nil {
		return err
	}
	if p.Status != StatusDraft {
		return invalidTransition("only a draft can be submitted for review (status %s)", p.Status)
	}
	p.record(PostSubmittedForReview{}, now)
	return nil
}

// RequestChanges decides in_review → draft with a review comment (1..2000
// characters), by an editor or admin.
func (p *Post) RequestChanges(actor Actor, comment string, now time.Time) error {
	if err := p.checkManage(actor, "review"); err != nil {
		return err
	}
	if p.Status != StatusInReview {
		return invalidTransition("only a post in review can be sent back (status %s)", p.Status)
	}
	if err := validateText("comment", "invalid_comment", comment, 1, MaxCommentChars); err != nil {
		return err
	}
	p.record(PostChangesRequested{Comment: comment}, now)
	return nil
}

// Publish decides draft|in_review|scheduled → published now, by an editor or
// admin. Publishing a published post is refused with "invalid_transition".
func (p *Post) Publish(actor Actor, now time.Time) error {
	if err := p.checkManage(actor, "publish"); err != nil {
		return err
	}
	switch p.Status {
	case StatusDraft, StatusInReview, StatusScheduled:
	default:
		return invalidTransition("a %s post cannot be published", p.Status)
	}
	p.record(PostPublished{PublishedAt: now}, now)
	return nil
}

// Schedule decides draft|in_review|scheduled → scheduled for publishAt, which
// must lie after now, by an editor or admin. Rescheduling to the same time is
// refused with "no_changes".
func (p *Post) Schedule(actor Actor, publishAt, now time.Time) error {
	if err := p.checkManage(actor, "schedule"); err != nil {
		return err
	}
	switch p.Status {
	case StatusDraft, StatusInReview, StatusScheduled:
	default:
		return invalidTransition("a %s post cannot be scheduled", p.Status)
	}
	if !publishAt.After(now) {
		return Invalid("invalid_publish_at", "the publication time must be in the future", map[string][]string{"publish_at": {"must be in the future"}})
	}
	if p.Status == StatusScheduled && publishAt.Equal(p.ScheduledFor) {
		return noChanges("the post is already scheduled for this time")
	}
	p.record(PostScheduled{PublishAt: publishAt.UTC()}, now)
	return nil
}

// PublishDue publishes a scheduled post whose time has come, for the
// scheduler (system actor; editors and admins may too). It reports false and
// records nothing when the post is not scheduled or not due yet, which makes
// the scheduler idempotent.
func (p *Post) PublishDue(actor Actor, now time.Time) (bool, error) {
	if !actor.Role.CanPublish() {
		return false, forbidden("role %q may not publish posts", actor.Role)
	}
	if p.Status != StatusScheduled || p.ScheduledFor.After(now) {
		return false, nil
	}
	p.record(PostPublished{PublishedAt: now, Scheduled: true}, now)
	return true, nil
}

// Unpublish decides published|scheduled → draft, by an editor or admin.
func (p *Post) Unpublish(actor Actor, reason string, now time.Time) error {
	if err := p.checkManage(actor, "unpublish"); err != nil {
		return err
	}
	if p.Status != StatusPublished && p.Status != StatusScheduled {
		return invalidTransition("a %s post cannot be unpublished", p.Status)
	}
	if err := validateText("reason", "invalid_reason", reason, 0, MaxCommentChars); err != nil {
		return err
	}
	p.record(PostUnpublished{Reason: reason}, now)
	return nil
}

// Archive decides any status except deleted and archived → archived, by an
// editor or admin.
func (p *Post) Archive(actor Actor, now time.Time) error {
	if err := p.checkManage(actor, "archive"); err != nil {
		return err
	}
	if err := p.checkChangeable(); err != nil {
		return err
	}
	p.record(PostArchived{PreviousStatus: p.Status}, now)
	return nil
}

// Delete decides a soft delete: editors and admins may delete any post that
// is not deleted; its author only while it is a draft.
func (p *Post) Delete(actor Actor, now time.Time) error {
	if !actor.Role.CanEditAnyPost() {
		if err := p.checkEdit(actor); err != nil {
			return err
		}
		if p.Status != StatusDraft {
			return forbidden("authors may delete their posts only while they are drafts")
		}
	}
	if p.Status == StatusDeleted {
		return invalidTransition("the post is already deleted")
	}
	p.record(PostDeleted{PreviousStatus: p.Status}, now)
	return nil
}

// Restore decides deleted|archived → the previous status, by an editor or
// admin (see the restore rule on Post).
func (p *Post) Restore(actor Actor, now time.Time) error {
	if err := p.checkManage(actor, "restore"); err != nil {
		return err
	}
	var to PostStatus
	switch p.Status {
	case StatusDeleted:
		to = p.DeletedFrom
	case StatusArchived:
		to = p.ArchivedFrom
	default:
		return invalidTransition("only a deleted or archived post can be restored (status %s)", p.Status)
	}
	switch to {
	case StatusPublished, StatusScheduled, "":
		to = StatusDraft
	}
	p.record(PostRestored{Status: to}, now)
	return nil
}

// ContentEqual reports whether a and b are the same content (nil and empty
// tag lists are equal).
func ContentEqual(a, b PostContent) bool {
	return a.Title == b.Title && a.Body == b.Body && a.Excerpt == b.Excerpt && slices.Equal(a.Tags, b.Tags)
}
