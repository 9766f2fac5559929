package domain

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Media event types. Never renamed.
const (
	EventMediaUploaded       = "MediaUploaded"
	EventMediaAltTextChanged = "MediaAltTextChanged"
	EventMediaDeleted        = "MediaDeleted"
)

// Media stream prefixes: media-<uuid> holds a media item's events;
// mediahash-<sha256> is the reservation stream that makes the same bytes
// map to one media item.
const (
	MediaStreamPrefix     = "media-"
	MediaHashStreamPrefix = "mediahash-"
)

// MaxAltChars bounds alternative texts.
const MaxAltChars = 1_000

// Rendition describes one stored, re-encoded rendition of a media item.
type Rendition struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
}

// MediaUploaded starts a media stream. Hash is the hex SHA-256 of the
// uploaded bytes, Type the MIME type sniffed from them, Width and Height
// the displayed (EXIF-oriented) size.
type MediaUploaded struct {
	MediaID    string      `json:"media_id"`
	Hash       string      `json:"hash"`
	Type       string      `json:"type"`
	Size       int64       `json:"size"`
	Width      int         `json:"width"`
	Height     int         `json:"height"`
	Alt        string      `json:"alt"`
	UploaderID string      `json:"uploader_id"`
	Renditions []Rendition `json:"renditions"`
}

// MediaAltTextChanged replaces a media item's alternative text.
type MediaAltTextChanged struct {
	Alt string `json:"alt"`
}

// MediaDeleted removes a media item from the library. Its events stay.
type MediaDeleted struct{}

// EventType implementations.
func (MediaUploaded) EventType() string       { return EventMediaUploaded }
func (MediaAltTextChanged) EventType() string { return EventMediaAltTextChanged }
func (MediaDeleted) EventType() string        { return EventMediaDeleted }

func init() {
	register[MediaUploaded](1)
	register[MediaAltTextChanged](1)
	register[MediaDeleted](1)
}

// Media is the media aggregate: one uploaded image and its renditions.
//
// Rules: authors, editors and admins upload; the uploader (while holding a
// writing role), editors and admins change the alt text; editors and admins
// delete. Auditors and readers change nothing. Whether a deleted item is
// still used by a published post is the caller's business (a read-side
// check in commands).
type Media struct {
	ID         string
	Hash       string
	Type       string
	Size       int64
	Width      int
	Height     int
	Alt        string
	UploaderID string
	Renditions []Rendition
	Deleted    bool
	// Version is the stream version, including pending changes.
	Version   uint64
	CreatedAt time.Time
	UpdatedAt time.Time

	changeLog
}

// NewMediaFromHistory folds a media item's stored events, oldest first. It
// returns nil when history is empty.
func NewMediaFromHistory(history []EventAt) *Media {
	if len(history) == 0 {
		return nil
	}
	m := &Media{}
	for _, e := range history {
		m.Apply(e.Event, e.OccurredAt)
	}
	return m
}

// OriginalVersion is the stream version before the pending changes.
func (m *Media) OriginalVersion() uint64 { return m.Version - uint64(len(m.changes)) }

// Rendition returns the rendition called name.
func (m *Media) Rendition(name string) (Rendition, bool) {
	for _, r := range m.Renditions {
		if r.Name == name {
			return r, true
		}
	}
	return Rendition{}, false
}

// Apply folds one stored event into the state; at is when it occurred.
func (m *Media) Apply(e Event, at time.Time) {
	m.Version++
	m.UpdatedAt = at
	switch e := e.(type) {
	case MediaUploaded:
		m.ID, m.Hash, m.Type, m.Size = e.MediaID, e.Hash, e.Type, e.Size
		m.Width, m.Height, m.Alt, m.UploaderID = e.Width, e.Height, e.Alt, e.UploaderID
		m.Renditions = e.Renditions
		m.CreatedAt = at
	case MediaAltTextChanged:
		m.Alt = e.Alt
	case MediaDeleted:
		m.Deleted = true
	}
}

func (m *Media) record(e Event, now time.Time) {
	m.Apply(e, now)
	m.changes = append(m.changes, EventAt{Event: e, OccurredAt: now})
}

// NormalizeAlt trims an alternative text.
func NormalizeAlt(alt string) string { return strings.TrimSpace(alt) }

// ValidateAlt returns a KindInvalid *Error with code "invalid_alt" unless
// alt is valid UTF-8 of at most MaxAltChars characters.
func ValidateAlt(alt string) error {
	if !utf8.ValidString(alt) || utf8.RuneCountInString(alt) > MaxAltChars {
		return Invalid("invalid_alt", "the alternative text is invalid", map[string][]string{"alt": {"must be valid UTF-8 of at most 1000 characters"}})
	}
	return nil
}

// UploadMedia decides a new media item uploaded by actor (author, editor or
// admin). u describes the processed upload; its UploaderID is set to the
// actor and its alt text normalized here.
func UploadMedia(actor Actor, u MediaUploaded, now time.Time) (*Media, error) {
	if !actor.Role.CanWritePosts() || actor.Anonymous() {
		return nil, forbidden("role %q may not upload media", actor.Role)
	}
	return newMedia(actor, u, now)
}

// newMedia validates u and records it as uploaded by actor.
func newMedia(actor Actor, u MediaUploaded, now time.Time) (*Media, error) {
	u.Alt = NormalizeAlt(u.Alt)
	u.UploaderID = actor.ID
	f := FieldErrors{}
	if u.MediaID == "" {
		f.Add("id", "is required")
	}
	if len(u.Hash) != 64 {
		f.Add("hash", "must be a hex SHA-256")
	}
	if u.Type == "" || u.Size <= 0 || u.Width <= 0 || u.Height <= 0 {
		f.Add("file", "must be a non-empty image")
	}
	if len(u.Renditions) == 0 {
		f.Add("renditions", "at least one is required")
	}
	if err := f.Err("invalid_media"); err != nil {
		return nil, err
	}
	if err := ValidateAlt(u.Alt); err != nil {
		return nil, err
	}
	m := &Media{}
	m.record(u, now)
	return m, nil
}

// UploadAvatarMedia decides a new media item uploaded as a profile picture:
// unlike UploadMedia any signed-in account may do it (readers too), except
// auditors and the system, which change nothing.
func UploadAvatarMedia(actor Actor, u MediaUploaded, now time.Time) (*Media, error) {
	if actor.Anonymous() || actor.Role == RoleAuditor || actor.Role == RoleSystem || !actor.Role.Valid() {
		return nil, forbidden("role %q may not upload profile pictures", actor.Role)
	}
	return newMedia(actor, u, now)
}

// ChangeAlt decides a new alternative text, by the uploader (while holding
// a writing role), an editor or an admin.
func (m *Media) ChangeAlt(actor Actor, alt string, now time.Time) error {
	if !actor.Role.CanEditAnyPost() {
		if !actor.Role.CanWritePosts() || actor.Anonymous() {
			return forbidden("role %q may not change media", actor.Role)
		}
		if actor.ID != m.UploaderID {
			return Errorf(KindForbidden, "not_owner", "only the uploader, an editor or an admin may change this media")
		}
	}
	if m.Deleted {
		return invalidTransition("the media is deleted")
	}
	alt = NormalizeAlt(alt)
	if err := ValidateAlt(alt); err != nil {
		return err
	}
	if alt == m.Alt {
		return noChanges("the alternative text is unchanged")
	}
	m.record(MediaAltTextChanged{Alt: alt}, now)
	return nil
}

// Delete decides the removal of the media item from the library, by an
// editor or admin.
func (m *Media) Delete(actor Actor, now time.Time) error {
	if !actor.Role.CanEditAnyPost() {
		return forbidden("role %q may not delete media", actor.Role)
	}
	if m.Deleted {
		return invalidTransition("the media is already deleted")
	}
	m.record(MediaDeleted{}, now)
	return nil
}
