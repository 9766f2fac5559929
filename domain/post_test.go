package domain

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	alice   = Actor{ID: "alice", Role: RoleAuthor} // owns the post
	bob     = Actor{ID: "bob", Role: RoleAuthor}
	ed      = Actor{ID: "ed", Role: RoleEditor}
	ada     = Actor{ID: "ada", Role: RoleAdmin}
	audrey  = Actor{ID: "audrey", Role: RoleAuditor}
	rita    = Actor{ID: "rita", Role: RoleReader}
	demoted = Actor{ID: "alice", Role: RoleReader} // the owner after losing the author role

	c1 = PostContent{Title: "Hello", Body: "First body", Excerpt: "ex", Tags: []string{"go", "cms"}}
	c2 = PostContent{Title: "Hello again", Body: "Second body", Excerpt: "ex", Tags: []string{"go"}}

	drafted   = PostDrafted{PostID: "p1", AuthorID: "alice", Slug: "hello", PostContent: c1, Revision: 1}
	edited    = PostEdited{PostContent: c2, Revision: 2}
	submitted = PostSubmittedForReview{}
	published = PostPublished{PublishedAt: t0}
	scheduled = PostScheduled{PublishAt: t0.Add(24 * time.Hour)}
)

func history(events ...Event) []EventAt {
	h := make([]EventAt, len(events))
	for i, e := range events {
		h[i] = EventAt{Event: e, OccurredAt: t0.Add(time.Duration(i) * time.Minute)}
	}
	return h
}

// now is when commands in the tests happen: after any given history.
var now = t0.Add(time.Hour)

type postCase struct {
	name  string
	given []Event
	actor Actor
	when  func(p *Post, a Actor) error
	then  []Event // recorded on success
	// refusal: the expected kind and code
	kind Kind
	code string
	// check inspects the state after a successful decision.
	check func(t *testing.T, p *Post)
}

func edit(c PostContent, note string) func(*Post, Actor) error {
	return func(p *Post, a Actor) error { return p.Edit(a, c, note, now) }
}
func submit(p *Post, a Actor) error    { return p.Submit(a, now) }
func publish(p *Post, a Actor) error   { return p.Publish(a, now) }
func unpublish(p *Post, a Actor) error { return p.Unpublish(a, "", now) }
func archive(p *Post, a Actor) error   { return p.Archive(a, now) }
func del(p *Post, a Actor) error       { return p.Delete(a, now) }
func restore(p *Post, a Actor) error   { return p.Restore(a, now) }
func schedule(at time.Time) func(*Post, Actor) error {
	return func(p *Post, a Actor) error { return p.Schedule(a, at, now) }
}
func requestChanges(comment string) func(*Post, Actor) error {
	return func(p *Post, a Actor) error { return p.RequestChanges(a, comment, now) }
}
func revert(rev int) func(*Post, Actor) error {
	return func(p *Post, a Actor) error { return p.Revert(a, rev, "back", now) }
}
func changeSlug(s string) func(*Post, Actor) error {
	return func(p *Post, a Actor) error { return p.ChangeSlug(a, s, now) }
}
func publishDue(at time.Time) func(*Post, Actor) error {
	return func(p *Post, a Actor) error {
		changed, err := p.PublishDue(a, at)
		if err == nil && !changed && len(p.Changes()) != 0 {
			return errors.New("PublishDue reported no change but recorded events")
		}
		return err
	}
}

func status(want PostStatus) func(*testing.T, *Post) {
	return func(t *testing.T, p *Post) {
		t.Helper()
		if p.Status != want {
			t.Errorf("status = %s, want %s", p.Status, want)
		}
	}
}

func TestPostDecisions(t *testing.T) {
	longTitle := strings.Repeat("x", 301)
	cases := []postCase{
		// Edit
		{name: "owner edits own draft", given: []Event{drafted}, actor: alice, when: edit(c2, "typo"), then: []Event{PostEdited{PostContent: c2, Note: "typo", Revision: 2}}},
		{name: "owner edits in review", given: []Event{drafted, submitted}, actor: alice, when: edit(c2, ""), then: []Event{edited}, check: status(StatusInReview)},
		{name: "owner edits published post which stays published", given: []Event{drafted, published}, actor: alice, when: edit(c2, ""), then: []Event{edited}, check: status(StatusPublished)},
		{name: "editor edits someone's post", given: []Event{drafted}, actor: ed, when: edit(c2, ""), then: []Event{edited}},
		{name: "admin edits someone's post", given: []Event{drafted}, actor: ada, when: edit(c2, ""), then: []Event{edited}},
		{name: "edit normalizes tags and title", given: []Event{drafted}, actor: alice,
			when: edit(PostContent{Title: "  Hello again ", Body: "Second body", Excerpt: "ex", Tags: []string{" GO ", "go", ""}}, ""),
			then: []Event{edited}},
		{name: "edit revision numbers continue", given: []Event{drafted, edited}, actor: alice, when: edit(c1, ""), then: []Event{PostEdited{PostContent: c1, Revision: 3}},
			check: func(t *testing.T, p *Post) {
				if p.Revision != 3 || len(p.Revisions) != 3 || p.Version != 3 || !ContentEqual(p.Content, c1) {
					t.Errorf("revision %d, %d revisions, version %d, content %+v", p.Revision, len(p.Revisions), p.Version, p.Content)
				}
			}},
		{name: "author cannot edit someone else's post", given: []Event{drafted}, actor: bob, when: edit(c2, ""), kind: KindForbidden, code: "not_owner"},
		{name: "demoted owner cannot edit", given: []Event{drafted}, actor: demoted, when: edit(c2, ""), kind: KindForbidden, code: "forbidden_role"},
		{name: "reader cannot edit", given: []Event{drafted}, actor: rita, when: edit(c2, ""), kind: KindForbidden, code: "forbidden_role"},
		{name: "deleted post cannot be edited", given: []Event{drafted, PostDeleted{PreviousStatus: StatusDraft}}, actor: ed, when: edit(c2, ""), kind: KindConflict, code: "invalid_transition"},
		{name: "archived post cannot be edited", given: []Event{drafted, PostArchived{PreviousStatus: StatusDraft}}, actor: ada, when: edit(c2, ""), kind: KindConflict, code: "invalid_transition"},
		{name: "edit changing nothing is refused", given: []Event{drafted}, actor: alice, when: edit(c1, "nothing"), kind: KindInvalid, code: "no_changes"},
		{name: "edit with only tag case differences changes nothing", given: []Event{drafted}, actor: alice,
			when: edit(PostContent{Title: "Hello", Body: "First body", Excerpt: "ex", Tags: []string{"GO", "Cms"}}, ""), kind: KindInvalid, code: "no_changes"},
		{name: "edit with empty title", given: []Event{drafted}, actor: alice, when: edit(PostContent{Title: " ", Body: "b"}, ""), kind: KindInvalid, code: "invalid_post"},
		{name: "edit with long title", given: []Event{drafted}, actor: alice, when: edit(PostContent{Title: longTitle}, ""), kind: KindInvalid, code: "invalid_post"},
		{name: "edit with too long note", given: []Event{drafted}, actor: alice, when: edit(c2, strings.Repeat("n", 1001)), kind: KindInvalid, code: "invalid_note"},

		// Slug
		{name: "owner changes slug", given: []Event{drafted}, actor: alice, when: changeSlug("hello-world"), then: []Event{PostSlugChanged{OldSlug: "hello", Slug: "hello-world"}}},
		{name: "editor changes slug", given: []Event{drafted, published}, actor: ed, when: changeSlug("x"), then: []Event{PostSlugChanged{OldSlug: "hello", Slug: "x"}}},
		{name: "same slug changes nothing", given: []Event{drafted}, actor: alice, when: changeSlug("hello"), kind: KindInvalid, code: "no_changes"},
		{name: "invalid slug", given: []Event{drafted}, actor: alice, when: changeSlug("Hello World"), kind: KindInvalid, code: "invalid_slug"},
		{name: "other author cannot change slug", given: []Event{drafted}, actor: bob, when: changeSlug("mine"), kind: KindForbidden, code: "not_owner"},
		{name: "deleted post slug cannot change", given: []Event{drafted, PostDeleted{PreviousStatus: StatusDraft}}, actor: ed, when: changeSlug("x"), kind: KindConflict, code: "invalid_transition"},

		// Submit / request changes
		{name: "owner submits draft", given: []Event{drafted}, actor: alice, when: submit, then: []Event{submitted}, check: status(StatusInReview)},
		{name: "editor submits draft", given: []Event{drafted}, actor: ed, when: submit, then: []Event{submitted}},
		{name: "other author cannot submit", given: []Event{drafted}, actor: bob, when: submit, kind: KindForbidden, code: "not_owner"},
		{name: "submit twice refused", given: []Event{drafted, submitted}, actor: alice, when: submit, kind: KindConflict, code: "invalid_transition"},
		{name: "submit published refused", given: []Event{drafted, published}, actor: alice, when: submit, kind: KindConflict, code: "invalid_transition"},
		{name: "editor requests changes", given: []Event{drafted, submitted}, actor: ed, when: requestChanges("more detail"), then: []Event{PostChangesRequested{Comment: "more detail"}}, check: status(StatusDraft)},
		{name: "admin requests changes", given: []Event{drafted, submitted}, actor: ada, when: requestChanges("no"), then: []Event{PostChangesRequested{Comment: "no"}}},
		{name: "author cannot request changes", given: []Event{drafted, submitted}, actor: alice, when: requestChanges("x"), kind: KindForbidden, code: "forbidden_role"},
		{name: "request changes on draft refused", given: []Event{drafted}, actor: ed, when: requestChanges("x"), kind: KindConflict, code: "invalid_transition"},
		{name: "request changes needs a comment", given: []Event{drafted, submitted}, actor: ed, when: requestChanges(""), kind: KindInvalid, code: "invalid_comment"},

		// Publish
		{name: "editor publishes draft", given: []Event{drafted}, actor: ed, when: publish, then: []Event{PostPublished{PublishedAt: now}},
			check: func(t *testing.T, p *Post) {
				if p.Status != StatusPublished || !p.PublishedAt.Equal(now) {
					t.Errorf("status %s published at %v", p.Status, p.PublishedAt)
				}
			}},
		{name: "admin publishes in review", given: []Event{drafted, submitted}, actor: ada, when: publish, then: []Event{PostPublished{PublishedAt: now}}},
		{name: "editor publishes scheduled post now", given: []Event{drafted, scheduled}, actor: ed, when: publish, then: []Event{PostPublished{PublishedAt: now}},
			check: func(t *testing.T, p *Post) {
				if !p.ScheduledFor.IsZero() {
					t.Errorf("scheduled for %v after publishing", p.ScheduledFor)
				}
			}},
		{name: "author cannot publish", given: []Event{drafted}, actor: alice, when: publish, kind: KindForbidden, code: "forbidden_role"},
		{name: "system cannot publish a draft", given: []Event{drafted}, actor: SystemActor, when: publish, kind: KindForbidden, code: "forbidden_role"},
		{name: "publishing a published post is refused", given: []Event{drafted, published}, actor: ed, when: publish, kind: KindConflict, code: "invalid_transition"},
		{name: "publishing a deleted post is refused", given: []Event{drafted, PostDeleted{PreviousStatus: StatusDraft}}, actor: ed, when: publish, kind: KindConflict, code: "invalid_transition"},
		{name: "publishing an archived post is refused", given: []Event{drafted, PostArchived{PreviousStatus: StatusDraft}}, actor: ed, when: publish, kind: KindConflict, code: "invalid_transition"},

		// Schedule
		{name: "editor schedules draft", given: []Event{drafted}, actor: ed, when: schedule(now.Add(time.Hour)), then: []Event{PostScheduled{PublishAt: now.Add(time.Hour)}},
			check: func(t *testing.T, p *Post) {
				if p.Status != StatusScheduled || !p.ScheduledFor.Equal(now.Add(time.Hour)) {
					t.Errorf("status %s scheduled for %v", p.Status, p.ScheduledFor)
				}
			}},
		{name: "editor schedules in review", given: []Event{drafted, submitted}, actor: ed, when: schedule(now.Add(time.Hour)), then: []Event{PostScheduled{PublishAt: now.Add(time.Hour)}}},
		{name: "editor reschedules", given: []Event{drafted, scheduled}, actor: ed, when: schedule(now.Add(time.Hour)), then: []Event{PostScheduled{PublishAt: now.Add(time.Hour)}}},
		{name: "rescheduling to the same time changes nothing", given: []Event{drafted, scheduled}, actor: ed, when: schedule(scheduled.PublishAt), kind: KindInvalid, code: "no_changes"},
		{name: "schedule in the past refused", given: []Event{drafted}, actor: ed, when: schedule(now.Add(-time.Second)), kind: KindInvalid, code: "invalid_publish_at"},
		{name: "schedule at now refused", given: []Event{drafted}, actor: ed, when: schedule(now), kind: KindInvalid, code: "invalid_publish_at"},
		{name: "author cannot schedule", given: []Event{drafted}, actor: alice, when: schedule(now.Add(time.Hour)), kind: KindForbidden, code: "forbidden_role"},
		{name: "schedule published refused", given: []Event{drafted, published}, actor: ed, when: schedule(now.Add(time.Hour)), kind: KindConflict, code: "invalid_transition"},

		// PublishDue
		{name: "system publishes due post", given: []Event{drafted, PostScheduled{PublishAt: now.Add(-time.Minute)}}, actor: SystemActor, when: publishDue(now),
			then: []Event{PostPublished{PublishedAt: now, Scheduled: true}}, check: status(StatusPublished)},
		{name: "system publishes exactly at the time", given: []Event{drafted, PostScheduled{PublishAt: now}}, actor: SystemActor, when: publishDue(now),
			then: []Event{PostPublished{PublishedAt: now, Scheduled: true}}},
		{name: "not due yet is a no-op", given: []Event{drafted, scheduled}, actor: SystemActor, when: publishDue(now), then: nil, check: status(StatusScheduled)},
		{name: "already published is a no-op", given: []Event{drafted, published}, actor: SystemActor, when: publishDue(now), then: nil},
		{name: "unpublished schedule is a no-op", given: []Event{drafted, scheduled, PostUnpublished{}}, actor: SystemActor, when: publishDue(now.Add(48 * time.Hour)), then: nil, check: status(StatusDraft)},
		{name: "author cannot run the scheduler", given: []Event{drafted, PostScheduled{PublishAt: t0}}, actor: alice, when: publishDue(now), kind: KindForbidden, code: "forbidden_role"},

		// Unpublish
		{name: "editor unpublishes", given: []Event{drafted, published}, actor: ed, when: func(p *Post, a Actor) error { return p.Unpublish(a, "outdated", now) },
			then: []Event{PostUnpublished{Reason: "outdated"}},
			check: func(t *testing.T, p *Post) {
				if p.Status != StatusDraft || !p.PublishedAt.IsZero() {
					t.Errorf("status %s published at %v", p.Status, p.PublishedAt)
				}
			}},
		{name: "editor unschedules", given: []Event{drafted, scheduled}, actor: ed, when: unpublish, then: []Event{PostUnpublished{}}, check: status(StatusDraft)},
		{name: "author cannot unpublish", given: []Event{drafted, published}, actor: alice, when: unpublish, kind: KindForbidden, code: "forbidden_role"},
		{name: "unpublish draft refused", given: []Event{drafted}, actor: ed, when: unpublish, kind: KindConflict, code: "invalid_transition"},

		// Archive
		{name: "editor archives published", given: []Event{drafted, published}, actor: ed, when: archive, then: []Event{PostArchived{PreviousStatus: StatusPublished}}, check: status(StatusArchived)},
		{name: "admin archives draft", given: []Event{drafted}, actor: ada, when: archive, then: []Event{PostArchived{PreviousStatus: StatusDraft}}},
		{name: "author cannot archive", given: []Event{drafted}, actor: alice, when: archive, kind: KindForbidden, code: "forbidden_role"},
		{name: "archive twice refused", given: []Event{drafted, PostArchived{PreviousStatus: StatusDraft}}, actor: ed, when: archive, kind: KindConflict, code: "invalid_transition"},
		{name: "archive deleted refused", given: []Event{drafted, PostDeleted{PreviousStatus: StatusDraft}}, actor: ed, when: archive, kind: KindConflict, code: "invalid_transition"},

		// Delete
		{name: "owner deletes own draft", given: []Event{drafted}, actor: alice, when: del, then: []Event{PostDeleted{PreviousStatus: StatusDraft}}, check: status(StatusDeleted)},
		{name: "owner cannot delete in review", given: []Event{drafted, submitted}, actor: alice, when: del, kind: KindForbidden, code: "forbidden_role"},
		{name: "owner cannot delete published", given: []Event{drafted, published}, actor: alice, when: del, kind: KindForbidden, code: "forbidden_role"},
		{name: "other author cannot delete", given: []Event{drafted}, actor: bob, when: del, kind: KindForbidden, code: "not_owner"},
		{name: "editor deletes published", given: []Event{drafted, published}, actor: ed, when: del, then: []Event{PostDeleted{PreviousStatus: StatusPublished}}},
		{name: "admin deletes archived", given: []Event{drafted, PostArchived{PreviousStatus: StatusDraft}}, actor: ada, when: del, then: []Event{PostDeleted{PreviousStatus: StatusArchived}}},
		{name: "delete twice refused", given: []Event{drafted, PostDeleted{PreviousStatus: StatusDraft}}, actor: ed, when: del, kind: KindConflict, code: "invalid_transition"},

		// Restore
		{name: "restore deleted draft to draft", given: []Event{drafted, PostDeleted{PreviousStatus: StatusDraft}}, actor: ed, when: restore, then: []Event{PostRestored{Status: StatusDraft}}, check: status(StatusDraft)},
		{name: "restore deleted in-review post to in review", given: []Event{drafted, submitted, PostDeleted{PreviousStatus: StatusInReview}}, actor: ada, when: restore, then: []Event{PostRestored{Status: StatusInReview}}},
		{name: "restore deleted published post as draft", given: []Event{drafted, published, PostDeleted{PreviousStatus: StatusPublished}}, actor: ed, when: restore, then: []Event{PostRestored{Status: StatusDraft}},
			check: func(t *testing.T, p *Post) {
				if p.Status != StatusDraft || !p.PublishedAt.IsZero() {
					t.Errorf("status %s published at %v", p.Status, p.PublishedAt)
				}
			}},
		{name: "restore deleted scheduled post as draft", given: []Event{drafted, scheduled, PostDeleted{PreviousStatus: StatusScheduled}}, actor: ed, when: restore, then: []Event{PostRestored{Status: StatusDraft}},
			check: func(t *testing.T, p *Post) {
				if !p.ScheduledFor.IsZero() {
					t.Errorf("scheduled for %v", p.ScheduledFor)
				}
			}},
		{name: "restore archived draft", given: []Event{drafted, PostArchived{PreviousStatus: StatusDraft}}, actor: ed, when: restore, then: []Event{PostRestored{Status: StatusDraft}}},
		{name: "restore archived published post as draft", given: []Event{drafted, published, PostArchived{PreviousStatus: StatusPublished}}, actor: ed, when: restore, then: []Event{PostRestored{Status: StatusDraft}}},
		{name: "restore deleted archived post to archived", given: []Event{drafted, submitted, PostArchived{PreviousStatus: StatusInReview}, PostDeleted{PreviousStatus: StatusArchived}}, actor: ed, when: restore,
			then: []Event{PostRestored{Status: StatusArchived}}, check: status(StatusArchived)},
		{name: "second restore leaves the archive", given: []Event{drafted, submitted, PostArchived{PreviousStatus: StatusInReview}, PostDeleted{PreviousStatus: StatusArchived}, PostRestored{Status: StatusArchived}}, actor: ed, when: restore,
			then: []Event{PostRestored{Status: StatusInReview}}},
		{name: "author cannot restore own post", given: []Event{drafted, PostDeleted{PreviousStatus: StatusDraft}}, actor: alice, when: restore, kind: KindForbidden, code: "forbidden_role"},
		{name: "restore live post refused", given: []Event{drafted}, actor: ed, when: restore, kind: KindConflict, code: "invalid_transition"},

		// Revert
		{name: "owner reverts to revision 1", given: []Event{drafted, edited}, actor: alice, when: revert(1), then: []Event{PostReverted{TargetRevision: 1, PostContent: c1, Note: "back", Revision: 3}},
			check: func(t *testing.T, p *Post) {
				if p.Revision != 3 || !ContentEqual(p.Content, c1) {
					t.Errorf("revision %d content %+v", p.Revision, p.Content)
				}
			}},
		{name: "editor reverts published post", given: []Event{drafted, edited, published}, actor: ed, when: revert(1), then: []Event{PostReverted{TargetRevision: 1, PostContent: c1, Note: "back", Revision: 3}}, check: status(StatusPublished)},
		{name: "revert to unknown revision", given: []Event{drafted, edited}, actor: alice, when: revert(3), kind: KindInvalid, code: "unknown_revision"},
		{name: "revert to revision 0", given: []Event{drafted, edited}, actor: alice, when: revert(0), kind: KindInvalid, code: "unknown_revision"},
		{name: "revert to current content", given: []Event{drafted, edited}, actor: alice, when: revert(2), kind: KindInvalid, code: "no_changes"},
		{name: "revert to equal older content", given: []Event{drafted, edited, PostEdited{PostContent: c1, Revision: 3}}, actor: alice, when: revert(1), kind: KindInvalid, code: "no_changes"},
		{name: "other author cannot revert", given: []Event{drafted, edited}, actor: bob, when: revert(1), kind: KindForbidden, code: "not_owner"},
		{name: "deleted post cannot be reverted", given: []Event{drafted, edited, PostDeleted{PreviousStatus: StatusDraft}}, actor: ed, when: revert(1), kind: KindConflict, code: "invalid_transition"},
	}

	// An auditor changes nothing, and neither does a reader: try every command.
	every := map[string]func(*Post, Actor) error{
		"edit": edit(c2, ""), "change slug": changeSlug("other"), "submit": submit, "request changes": requestChanges("x"),
		"publish": publish, "schedule": schedule(now.Add(time.Hour)), "unpublish": unpublish, "archive": archive,
		"delete": del, "restore": restore, "revert": revert(1), "publish due": publishDue(now),
	}
	for name, when := range every {
		for _, a := range []Actor{audrey, rita} {
			cases = append(cases, postCase{name: string(a.Role) + " cannot " + name, given: []Event{drafted, edited, PostScheduled{PublishAt: t0}},
				actor: a, when: when, kind: KindForbidden, code: "forbidden_role"})
		}
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPostFromHistory(history(tc.given...))
			before := *p
			err := tc.when(p, tc.actor)
			if tc.code != "" {
				var de *Error
				if !errors.As(err, &de) || de.Kind != tc.kind || de.Code != tc.code {
					t.Fatalf("err = %v, want %s/%s", err, tc.kind, tc.code)
				}
				if len(p.Changes()) != 0 || p.Version != before.Version || p.Status != before.Status {
					t.Fatalf("a refusal changed the post: %d changes, version %d, status %s", len(p.Changes()), p.Version, p.Status)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			got := make([]Event, 0, len(p.Changes()))
			for _, c := range p.Changes() {
				got = append(got, c.Event)
				if !c.OccurredAt.Equal(now) {
					t.Errorf("occurred at %v, want %v", c.OccurredAt, now)
				}
			}
			if len(tc.then) == 0 && len(got) == 0 {
				// expected no-op
			} else if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("recorded\n %#v\nwant\n %#v", got, tc.then)
			}
			if want := uint64(len(tc.given) + len(got)); p.Version != want || p.OriginalVersion() != uint64(len(tc.given)) {
				t.Errorf("version %d (original %d), want %d (%d)", p.Version, p.OriginalVersion(), want, len(tc.given))
			}
			// Folding the recorded events onto the history gives the same state.
			refold := NewPostFromHistory(append(history(tc.given...), p.Changes()...))
			if refold.Status != p.Status || refold.Revision != p.Revision || !ContentEqual(refold.Content, p.Content) || refold.Slug != p.Slug {
				t.Errorf("refolded state differs: %+v vs %+v", refold, p)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func TestDraftPost(t *testing.T) {
	tags21 := make([]string, 21)
	for i := range tags21 {
		tags21[i] = "t" + strings.Repeat("x", i)
	}
	cases := []struct {
		name    string
		actor   Actor
		slug    string
		content PostContent
		code    string
		kind    Kind
	}{
		{name: "author drafts", actor: alice, slug: "hello", content: c1},
		{name: "editor drafts", actor: ed, slug: "hello", content: c1},
		{name: "admin drafts", actor: ada, slug: "hello", content: c1},
		{name: "reader cannot create posts", actor: rita, slug: "hello", content: c1, kind: KindForbidden, code: "forbidden_role"},
		{name: "auditor cannot create posts", actor: audrey, slug: "hello", content: c1, kind: KindForbidden, code: "forbidden_role"},
		{name: "system cannot create posts", actor: SystemActor, slug: "hello", content: c1, kind: KindForbidden, code: "forbidden_role"},
		{name: "anonymous cannot create posts", actor: Actor{Role: RoleAuthor}, slug: "hello", content: c1, kind: KindForbidden, code: "forbidden_role"},
		{name: "missing title", actor: alice, slug: "x", content: PostContent{Body: "b"}, kind: KindInvalid, code: "invalid_post"},
		{name: "title of 300 characters", actor: alice, slug: "x", content: PostContent{Title: strings.Repeat("é", 300)}},
		{name: "title of 301 characters", actor: alice, slug: "x", content: PostContent{Title: strings.Repeat("é", 301)}, kind: KindInvalid, code: "invalid_post"},
		{name: "body of 200000 bytes", actor: alice, slug: "x", content: PostContent{Title: "t", Body: strings.Repeat("b", 200_000)}},
		{name: "body too large", actor: alice, slug: "x", content: PostContent{Title: "t", Body: strings.Repeat("b", 200_001)}, kind: KindInvalid, code: "invalid_post"},
		{name: "excerpt too long", actor: alice, slug: "x", content: PostContent{Title: "t", Excerpt: strings.Repeat("e", 1001)}, kind: KindInvalid, code: "invalid_post"},
		{name: "20 tags", actor: alice, slug: "x", content: PostContent{Title: "t", Tags: tags21[:20]}},
		{name: "21 tags", actor: alice, slug: "x", content: PostContent{Title: "t", Tags: tags21}, kind: KindInvalid, code: "invalid_post"},
		{name: "21 tags with duplicates are 20", actor: alice, slug: "x", content: PostContent{Title: "t", Tags: append(tags21[:20:20], "T")}},
		{name: "tag with a space", actor: alice, slug: "x", content: PostContent{Title: "t", Tags: []string{"go lang"}}, kind: KindInvalid, code: "invalid_post"},
		{name: "tag too long", actor: alice, slug: "x", content: PostContent{Title: "t", Tags: []string{strings.Repeat("a", 41)}}, kind: KindInvalid, code: "invalid_post"},
		{name: "invalid slug", actor: alice, slug: "-x", content: c1, kind: KindInvalid, code: "invalid_slug"},
		{name: "slug too long", actor: alice, slug: strings.Repeat("a", 121), content: c1, kind: KindInvalid, code: "invalid_slug"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DraftPost(tc.actor, "p1", tc.slug, tc.content, now)
			if tc.code != "" {
				if KindOf(err) != tc.kind || CodeOf(err) != tc.code || p != nil {
					t.Fatalf("got %v, %v; want %s/%s", p, err, tc.kind, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			want := NormalizeContent(tc.content)
			if len(p.Changes()) != 1 || !reflect.DeepEqual(p.Changes()[0].Event, PostDrafted{PostID: "p1", AuthorID: tc.actor.ID, Slug: tc.slug, PostContent: want, Revision: 1}) {
				t.Fatalf("changes %#v", p.Changes())
			}
			if p.Status != StatusDraft || p.Version != 1 || p.Revision != 1 || p.AuthorID != tc.actor.ID || !p.CreatedAt.Equal(now) || p.Content.Tags == nil {
				t.Fatalf("state %+v", p)
			}
		})
	}
}

func TestPostCloneIsIndependent(t *testing.T) {
	p := NewPostFromHistory(history(drafted))
	p.Revisions = append(make([]PostContent, 0, 10), p.Revisions...) // spare capacity
	c := p.Clone()
	if err := p.Edit(alice, c2, "", now); err != nil {
		t.Fatal(err)
	}
	if err := c.Edit(alice, PostContent{Title: "Other"}, "", now); err != nil {
		t.Fatal(err)
	}
	if p.Revisions[1].Title != "Hello again" || c.Revisions[1].Title != "Other" || len(c.Changes()) != 1 {
		t.Fatalf("clone shares state: %q %q", p.Revisions[1].Title, c.Revisions[1].Title)
	}
}

func TestSlugify(t *testing.T) {
	cases := map[string]string{
		"Hello, World!":              "hello-world",
		"  Crème brûlée -- recipe  ": "creme-brulee-recipe",
		"Don't panic":                "dont-panic",
		"Straße 42":                  "strasse-42",
		"日本語":                        "post",
		"":                           "post",
		"---":                        "post",
		"Go 1.26: what's new?":       "go-1-26-whats-new",
		strings.Repeat("word ", 40):  strings.TrimSuffix(strings.Repeat("word-", 24), "-"),
		strings.Repeat("a", 200):     strings.Repeat("a", 120),
		"ÆON flux Ørsted":            "aeon-flux-orsted",
		"mixed\tWHITE\nspace":        "mixed-white-space",
		"emoji 🚀 launch":             "emoji-launch",
		"under_score and dots.in.it": "under-score-and-dots-in-it",
	}
	for in, want := range cases {
		got := Slugify(in)
		if got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
		if !ValidSlug(got) {
			t.Errorf("Slugify(%q) = %q is not a valid slug", in, got)
		}
	}
}

func TestValidators(t *testing.T) {
	emails := map[string]bool{
		"a@example.com": true, "first.last+tag@sub.example.org": true,
		"": false, "plain": false, "a@": false, "@b.c": false, "Name <a@b.c>": false, "a b@c.d": false,
		strings.Repeat("a", 250) + "@b.cd": false,
	}
	for in, want := range emails {
		if got := ValidEmail(in); got != want {
			t.Errorf("ValidEmail(%q) = %v, want %v", in, got, want)
		}
	}
	usernames := map[string]bool{"abc": true, "a_b_1": true, strings.Repeat("a", 32): true, "ab": false, strings.Repeat("a", 33): false, "Abc": false, "a-b": false, "a b": false}
	for in, want := range usernames {
		if got := ValidUsername(in); got != want {
			t.Errorf("ValidUsername(%q) = %v, want %v", in, got, want)
		}
	}
	passwords := map[string]bool{"123456789": false, "1234567890": true, strings.Repeat("p", 256): true, strings.Repeat("p", 257): false, strings.Repeat("ü", 10): true}
	for in, want := range passwords {
		if got := ValidatePassword(in) == nil; got != want {
			t.Errorf("ValidatePassword(len %d) ok = %v, want %v", len(in), got, want)
		}
	}
}
