package domain

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var (
	mediaHash = strings.Repeat("ab", 32)
	uploaded  = MediaUploaded{MediaID: "m1", Hash: mediaHash, Type: "image/jpeg", Size: 1234, Width: 640, Height: 480,
		Alt: "a cat", UploaderID: "alice", Renditions: []Rendition{{Name: "thumb", Width: 480, Height: 360, Type: "image/jpeg", Size: 99}}}
)

func TestUploadMedia(t *testing.T) {
	tests := []struct {
		name  string
		actor Actor
		in    MediaUploaded
		code  string
	}{
		{"author", alice, uploaded, ""},
		{"editor", ed, uploaded, ""},
		{"admin", ada, uploaded, ""},
		{"auditor", audrey, uploaded, "forbidden_role"},
		{"reader", rita, uploaded, "forbidden_role"},
		{"anonymous", Actor{Role: RoleAuthor}, uploaded, "forbidden_role"},
		{"no renditions", alice, func() MediaUploaded { u := uploaded; u.Renditions = nil; return u }(), "invalid_media"},
		{"bad hash", alice, func() MediaUploaded { u := uploaded; u.Hash = "x"; return u }(), "invalid_media"},
		{"alt too long", alice, func() MediaUploaded { u := uploaded; u.Alt = strings.Repeat("a", MaxAltChars+1); return u }(), "invalid_alt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := UploadMedia(tt.actor, tt.in, now)
			if tt.code != "" {
				if CodeOf(err) != tt.code {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.UploaderID != tt.actor.ID || m.Version != 1 || len(m.Changes()) != 1 || m.CreatedAt != now {
				t.Fatalf("media = %+v", m)
			}
		})
	}
}

func TestMediaDecisions(t *testing.T) {
	tests := []struct {
		name  string
		given []Event
		actor Actor
		when  func(m *Media, a Actor) error
		then  Event
		code  string
	}{
		{"uploader changes alt", []Event{uploaded}, alice, func(m *Media, a Actor) error { return m.ChangeAlt(a, " a dog ", now) }, MediaAltTextChanged{Alt: "a dog"}, ""},
		{"editor changes alt", []Event{uploaded}, ed, func(m *Media, a Actor) error { return m.ChangeAlt(a, "x", now) }, MediaAltTextChanged{Alt: "x"}, ""},
		{"other author may not", []Event{uploaded}, bob, func(m *Media, a Actor) error { return m.ChangeAlt(a, "x", now) }, nil, "not_owner"},
		{"auditor may not", []Event{uploaded}, audrey, func(m *Media, a Actor) error { return m.ChangeAlt(a, "x", now) }, nil, "forbidden_role"},
		{"same alt", []Event{uploaded}, alice, func(m *Media, a Actor) error { return m.ChangeAlt(a, "a cat", now) }, nil, "no_changes"},
		{"alt of deleted", []Event{uploaded, MediaDeleted{}}, ed, func(m *Media, a Actor) error { return m.ChangeAlt(a, "x", now) }, nil, "invalid_transition"},
		{"editor deletes", []Event{uploaded}, ed, func(m *Media, a Actor) error { return m.Delete(a, now) }, MediaDeleted{}, ""},
		{"admin deletes", []Event{uploaded}, ada, func(m *Media, a Actor) error { return m.Delete(a, now) }, MediaDeleted{}, ""},
		{"uploader may not delete", []Event{uploaded}, alice, func(m *Media, a Actor) error { return m.Delete(a, now) }, nil, "forbidden_role"},
		{"auditor may not delete", []Event{uploaded}, audrey, func(m *Media, a Actor) error { return m.Delete(a, now) }, nil, "forbidden_role"},
		{"delete twice", []Event{uploaded, MediaDeleted{}}, ed, func(m *Media, a Actor) error { return m.Delete(a, now) }, nil, "invalid_transition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMediaFromHistory(history(tt.given...))
			before := *m
			err := tt.when(m, tt.actor)
			if tt.code != "" {
				if CodeOf(err) != tt.code || len(m.Changes()) != 0 || m.Version != before.Version {
					t.Fatalf("err = %v, changes %v; want %s and none", err, m.Changes(), tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch := m.Changes(); len(ch) != 1 || !reflect.DeepEqual(ch[0].Event, tt.then) {
				t.Fatalf("changes = %v, want %v", ch, tt.then)
			}
			if m.OriginalVersion() != uint64(len(tt.given)) {
				t.Fatalf("original version %d", m.OriginalVersion())
			}
		})
	}
}

func TestPostFeatureImage(t *testing.T) {
	tests := []struct {
		name  string
		given []Event
		actor Actor
		media string
		hash  string
		then  Event
		code  string
	}{
		{"owner sets", []Event{drafted}, alice, "m1", mediaHash, PostFeatureImageSet{MediaID: "m1", Hash: mediaHash, Alt: "alt"}, ""},
		{"editor sets on published", []Event{drafted, published}, ed, "m1", mediaHash, PostFeatureImageSet{MediaID: "m1", Hash: mediaHash, Alt: "alt"}, ""},
		{"owner removes", []Event{drafted, PostFeatureImageSet{MediaID: "m1", Hash: mediaHash}}, alice, "", "", PostFeatureImageSet{}, ""},
		{"same image", []Event{drafted, PostFeatureImageSet{MediaID: "m1", Hash: mediaHash, Alt: "alt"}}, alice, "m1", mediaHash, nil, "no_changes"},
		{"other author", []Event{drafted}, bob, "m1", mediaHash, nil, "not_owner"},
		{"auditor", []Event{drafted}, audrey, "m1", mediaHash, nil, "forbidden_role"},
		{"deleted post", []Event{drafted, PostDeleted{PreviousStatus: StatusDraft}}, ed, "m1", mediaHash, nil, "invalid_transition"},
		{"bad hash", []Event{drafted}, alice, "m1", "nope", nil, "invalid_feature_image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPostFromHistory(history(tt.given...))
			err := p.SetFeatureImage(tt.actor, tt.media, tt.hash, "alt", now)
			if tt.code != "" {
				if CodeOf(err) != tt.code || len(p.Changes()) != 0 {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch := p.Changes(); len(ch) != 1 || !reflect.DeepEqual(ch[0].Event, tt.then) {
				t.Fatalf("changes = %v, want %v", ch, tt.then)
			}
			want := tt.then.(PostFeatureImageSet)
			if p.FeatureImage != (FeatureImage{MediaID: want.MediaID, Hash: want.Hash, Alt: want.Alt}) {
				t.Fatalf("feature image = %+v", p.FeatureImage)
			}
		})
	}
}

func TestUserAvatar(t *testing.T) {
	reg := UserRegistered{UserID: "alice", Email: "a@x.org", Username: "alice", DisplayName: "A", PasswordHash: "h", Role: RoleAuthor}
	tests := []struct {
		name  string
		given []Event
		actor Actor
		code  string
	}{
		{"owner", []Event{reg}, alice, ""},
		{"admin", []Event{reg}, ada, ""},
		{"someone else", []Event{reg}, bob, "not_owner"},
		{"deactivated", []Event{reg, UserDeactivated{}}, ada, "invalid_transition"},
		{"same avatar", []Event{reg, UserAvatarChanged{MediaID: "m1", Hash: mediaHash}}, alice, "no_changes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := NewUserFromHistory(history(tt.given...))
			err := u.ChangeAvatar(tt.actor, "m1", mediaHash, now)
			if tt.code != "" {
				if CodeOf(err) != tt.code {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil || u.Avatar != (Avatar{MediaID: "m1", Hash: mediaHash}) {
				t.Fatalf("err = %v, avatar %+v", err, u.Avatar)
			}
		})
	}
}

func TestMediaEventsRoundTrip(t *testing.T) {
	for _, e := range []Event{uploaded, MediaAltTextChanged{Alt: "x"}, MediaDeleted{}, PostFeatureImageSet{MediaID: "m", Hash: mediaHash, Alt: "a"}, UserAvatarChanged{MediaID: "m", Hash: mediaHash}} {
		b, schema, err := EncodeEvent(e)
		if err != nil || schema != 1 {
			t.Fatalf("encode %T: %v schema %d", e, err, schema)
		}
		got, err := DecodeEvent(e.EventType(), schema, b)
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip %T: %v %+v", e, err, got)
		}
	}
	var payload map[string]any
	b, _, _ := EncodeEvent(uploaded)
	if err := json.Unmarshal(b, &payload); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"media_id", "hash", "type", "size", "width", "height", "alt", "uploader_id", "renditions"} {
		if _, ok := payload[k]; !ok {
			t.Errorf("MediaUploaded payload lacks %q", k)
		}
	}
}
