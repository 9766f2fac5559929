package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Payload decoding goes through github.com/go-json-experiment/json with the
// v1 option set, while every stored payload was written by encoding/json.
// The tests in this file hold the decoder to encoding/json's behaviour: the
// same inputs are accepted and decode to deeply equal values.

// legacyNamedEvent is a test-only event type whose schema 1 payload used the
// field "name"; schema 2 renamed it to "title". It exercises upcasting in
// front of the decoder.
type legacyNamedEvent struct {
	Title string   `json:"title"`
	Tags  []string `json:"tags"`
}

const eventLegacyNamed = "TestLegacyNamed"

func (legacyNamedEvent) EventType() string { return eventLegacyNamed }

func init() {
	register[legacyNamedEvent](1)
	RegisterUpcaster(eventLegacyNamed, 1, func(payload []byte) ([]byte, error) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(payload, &m); err != nil {
			return nil, err
		}
		if name, ok := m["name"]; ok {
			m["title"] = name
			delete(m, "name")
		}
		return json.Marshal(m)
	})
}

// registeredEventTypes returns every registered event type, sorted.
func registeredEventTypes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	types := make([]string, 0, len(registry))
	for t := range registry {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// decodeV1 decodes payload into the concrete type registered for eventType
// with encoding/json, the reference the production decoder must match. The
// concrete type is discovered from the registry, so event types registered
// later are covered without changes here.
func decodeV1(t testing.TB, eventType string, payload []byte) (Event, error) {
	t.Helper()
	registryMu.RLock()
	def := registry[eventType]
	registryMu.RUnlock()
	zero, err := def.decode([]byte("{}"))
	if err != nil {
		t.Fatalf("%s: decode {}: %v", eventType, err)
	}
	ptr := reflect.New(reflect.TypeOf(zero))
	err = json.Unmarshal(payload, ptr.Interface())
	return ptr.Elem().Interface().(Event), err
}

// compareDecoders decodes payload as eventType with the production decoder
// and with encoding/json and fails t unless both accept it and agree on the
// value, or both reject it.
func compareDecoders(t testing.TB, eventType string, payload []byte) {
	t.Helper()
	registryMu.RLock()
	def := registry[eventType]
	registryMu.RUnlock()
	got, gotErr := def.decode(payload)
	want, wantErr := decodeV1(t, eventType, payload)
	var timeErr *time.ParseError
	if stdlibJSONIsV2 && wantErr == nil && errors.As(gotErr, &timeErr) {
		// Under GOEXPERIMENT=jsonv2 the reference accepts time strings
		// with escapes; the decoder keeps rejecting them as v1 does.
		return
	}
	switch {
	case wantErr == nil && gotErr != nil:
		t.Fatalf("%s %q: encoding/json accepts, decoder rejects: %v", eventType, payload, gotErr)
	case wantErr != nil && gotErr == nil:
		t.Fatalf("%s %q: encoding/json rejects (%v), decoder accepts: %#v", eventType, payload, wantErr, got)
	case wantErr == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("%s %q: decoded differently:\n got  %#v\n want %#v", eventType, payload, got, want)
	}
}

// oddPayloads are hand-written payloads probing the corners where a JSON
// decoder's semantics can differ: escapes, unicode, invalid UTF-8, field
// name case, unknown and duplicate fields, nulls, numbers, times, non-object
// values and malformed documents. Each is decoded as every event type.
var oddPayloads = []string{
	`{}`,
	` {} `,
	"\t{\n}\r\n",
	`null`,
	`{"title":"a\"b\\c\/d\b\f\n\r\tz","body":"\u00e9\u4e16\ud83d\ude00 \u2028\u2029 <&>"}`,
	`{"body":"lone surrogates \ud800 and \udfff and \ud800\u0041"}`,
	"{\"body\":\"invalid utf-8 \xff\xfe and truncated \xe2\x82\"}",
	"{\"b\xffody\":\"x\",\"title\":\"\xc0\xaf\"}",
	`{"TITLE":"upper","Body":"mixed","eXcErPt":"odd","POST_ID":"p1","Post_Id":"p2"}`,
	`{"postid":"no underscore","post-id":"dash","PostID":"go name"}`,
	`{"ſlug":"long s","tagſ":["x"],"ſtatus":"draft","ſize":1,"haſh":"h","reaſon":"r"}`,
	`{"TİTLE":"dotted I","tıtle":"dotless i","title\u0000":"nul"}`,
	`{"t\u0069tle":"escaped name","\u0062ody":"escaped b"}`,
	`{"title":"a","title":"b","tags":["x"],"tags":["y","z"]}`,
	`{"title":"a","Title":"b"}`,
	`{"unknown":1,"nested":{"a":[1,2,{"b":null}]},"title":"kept","extra":[true,false,null]}`,
	`{"title":null,"body":null,"tags":null,"revision":null,"published_at":null,"publish_at":null,"scheduled":null}`,
	`{"tags":[]}`,
	`{"tags":["a",null,"b"]}`,
	`{"tags":[1]}`,
	`{"tags":"go"}`,
	`{"tags":{}}`,
	`{"revision":7,"target_revision":-3}`,
	`{"revision":-0}`,
	`{"revision":1.0}`,
	`{"revision":1e2}`,
	`{"revision":"7"}`,
	`{"revision":9223372036854775807}`,
	`{"revision":9223372036854775808}`,
	`{"revision":true}`,
	`{"scheduled":true,"published_at":"2026-11-26T18:45:00Z"}`,
	`{"scheduled":"true"}`,
	`{"scheduled":1}`,
	`{"published_at":"2026-11-26T18:45:00.123456789+02:00","publish_at":"2026-11-26T18:45:00-07:30"}`,
	`{"published_at":"2026-11-26T18:45:00.1Z"}`,
	`{"published_at":"2026-11-26t18:45:00z"}`,
	`{"published_at":"2026-11-26 18:45:00Z"}`,
	`{"published_at":"2026-11-26T18:45:00"}`,
	`{"published_at":"2026-11-26T24:00:00Z"}`,
	`{"published_at":"0001-01-01T00:00:00Z"}`,
	`{"published_at":"10000-01-01T00:00:00Z"}`,
	`{"published_at":"2026-11-26T18:45:00+24:00"}`,
	`{"published_at":""}`,
	`{"published_at":"\u0032026-11-26T18:45:00Z"}`,
	`{"published_at":1764182700}`,
	`{"publish_at":{}}`,
	`{"previous_status":"published","status":"draft","role":"admin","from":"author","to":"editor"}`,
	`{"previous_status":"not-a-status","role":""}`,
	`{"size":-1,"width":1.5,"renditions":[{"name":"a","size":"1"}]}`,
	`{"renditions":[{"NAME":"a","Width":1,"extra":{}},null,{}]}`,
	`{"renditions":{"name":"a"}}`,
	`{"size":18446744073709551616}`,
	`{"name":"legacy schema field","title":"current field"}`,
	`[]`,
	`"string"`,
	`42`,
	`true`,
	`{"title":"x"} trailing`,
	`{"title":"x"}{"title":"y"}`,
	`{"title":"x",}`,
	`{"title":'x'}`,
	`{title:"x"}`,
	`{"title":"unterminated`,
	`{"title":"x"`,
	"{\"title\":\"raw\ncontrol\"}",
	`{"title":"\x"}`,
	`{"title":"\u12"}`,
	`{"":"empty name","title":"t"}`,
	`{"title":"` + strings.Repeat(`\\ \" \n é 🚀 `, 200) + `"}`,
	`{"a":` + strings.Repeat(`[`, 600) + strings.Repeat(`]`, 600) + `,"title":"deep"}`,
}

// representativePayloads encodes one fully populated value of each built-in
// event type with encoding/json, as the event store has always written them.
func representativePayloads(t testing.TB) [][]byte {
	t.Helper()
	body := strings.Repeat("# Heading\n\nSome *Markdown* with \"quotes\", <html> & \\backslashes\\, tabs\t, ünïcödé and 🚀.\n", 25)
	content := PostContent{Title: "A \"title\" — with unicode", Body: body, Excerpt: "An <excerpt>.", Tags: []string{"go", "event-sourcing", "日本語"}}
	at := time.Date(2026, 11, 26, 18, 45, 0, 123456789, time.UTC)
	events := []Event{
		PostDrafted{PostID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", AuthorID: "0193a1b2-0000-7000-8000-000000000001", Slug: "a-title", PostContent: content, Revision: 1},
		PostEdited{PostContent: content, Note: "fix typo", Revision: 7},
		PostEdited{PostContent: PostContent{Title: "no tags, no note"}, Revision: 2},
		PostSlugChanged{OldSlug: "old", Slug: "new"},
		PostSubmittedForReview{},
		PostChangesRequested{Comment: "Please expand the \"intro\".\n"},
		PostPublished{PublishedAt: at, Scheduled: true},
		PostPublished{PublishedAt: at.In(time.FixedZone("", 5*3600+30*60))},
		PostScheduled{PublishAt: at.Add(24 * time.Hour)},
		PostUnpublished{Reason: "embargo"},
		PostUnpublished{},
		PostArchived{PreviousStatus: StatusPublished},
		PostDeleted{PreviousStatus: StatusDraft},
		PostRestored{Status: StatusArchived},
		PostReverted{TargetRevision: 3, PostContent: content, Note: "revert", Revision: 8},
		UserRegistered{UserID: "u1", Email: "a@example.com", Username: "alice", DisplayName: "Alice Ørsted", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", Role: RoleAuthor},
		UserProfileUpdated{DisplayName: "Alice", Bio: "Writes about <Go>.\nSecond line."},
		UserPasswordChanged{PasswordHash: "$2a$10$abcdefghijklmnopqrstuv"},
		UserRoleChanged{From: RoleAuthor, To: RoleEditor},
		UserDeactivated{Reason: "left"},
		UserReactivated{},
		ReservationClaimed{OwnerID: "u1", Value: "alice"},
		ReservationReleased{OwnerID: "u1", Value: "alice"},
		PostFeatureImageSet{MediaID: "m1", Alt: "A \"cat\"", Hash: "sha256-abc"},
		PostFeatureImageSet{},
		UserAvatarChanged{MediaID: "m2", Hash: "sha256-def"},
		MediaUploaded{MediaID: "m1", Hash: "9f86d08188", Type: "image/jpeg", Size: 1 << 40, Width: 4032, Height: 3024, Alt: "Sunset", UploaderID: "u1",
			Renditions: []Rendition{{Name: "thumb", Width: 320, Height: 240, Type: "image/webp", Size: 12345}, {Name: "large", Width: 2048, Height: 1536, Type: "image/webp", Size: 456789}}},
		MediaUploaded{MediaID: "m3"},
		MediaAltTextChanged{Alt: "A new \"alt\" text"},
		MediaDeleted{},
		legacyNamedEvent{Title: "current schema", Tags: []string{"x"}},
	}
	covered := map[string]bool{}
	payloads := make([][]byte, 0, len(events))
	for _, e := range events {
		b, _, err := EncodeEvent(e)
		if err != nil {
			t.Fatalf("encode %T: %v", e, err)
		}
		payloads = append(payloads, b)
		covered[e.EventType()] = true
	}
	for _, et := range registeredEventTypes() {
		if !covered[et] {
			t.Fatalf("event type %s has no representative payload; add one", et)
		}
	}
	return payloads
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	var payloads [][]byte
	payloads = append(payloads, representativePayloads(t)...)
	for _, p := range oddPayloads {
		payloads = append(payloads, []byte(p))
	}
	types := registeredEventTypes()
	for _, et := range types {
		t.Run(et, func(t *testing.T) {
			for _, p := range payloads {
				compareDecoders(t, et, p)
			}
		})
	}
}

// TestDecodeEventRoundTrip checks the whole DecodeEvent path (schema
// handling, upcasting, empty payloads) against encoding/json and that every
// representative value survives encode → decode unchanged.
func TestDecodeEventRoundTrip(t *testing.T) {
	for _, p := range representativePayloads(t) {
		for _, et := range registeredEventTypes() {
			got, gotErr := DecodeEvent(et, 1, p)
			want, wantErr := decodeV1(t, et, p)
			if gotErr != nil || wantErr != nil {
				t.Fatalf("%s %s: DecodeEvent err %v, encoding/json err %v", et, p, gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %s:\n got  %#v\n want %#v", et, p, got, want)
			}
		}
	}
	for _, empty := range []string{"", " ", "\n\t"} {
		for _, et := range registeredEventTypes() {
			// Upcasters see the raw stored bytes, so read empty payloads at
			// the current schema.
			got, err := DecodeEvent(et, SchemaVersion(et), []byte(empty))
			if err != nil {
				t.Fatalf("%s %q: %v", et, empty, err)
			}
			want, _ := decodeV1(t, et, []byte("{}"))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %q: got %#v, want zero %#v", et, empty, got, want)
			}
		}
	}
	if _, err := DecodeEvent(EventPostEdited, 1, []byte(`{"revision":"x"}`)); err == nil {
		t.Fatal("malformed payload decoded without error")
	} else if code := CodeOf(err); code != "malformed_event" {
		t.Fatalf("malformed payload: code %q, want malformed_event (%v)", code, err)
	}
}

func TestDecodeEventUpcastsOldSchema(t *testing.T) {
	got, err := DecodeEvent(eventLegacyNamed, 1, []byte(`{"name":"old \"name\" é","tags":["a"],"unknown":true}`))
	if err != nil {
		t.Fatal(err)
	}
	want := legacyNamedEvent{Title: `old "name" é`, Tags: []string{"a"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	got, err = DecodeEvent(eventLegacyNamed, 2, []byte(`{"title":"current","name":"ignored"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (legacyNamedEvent{Title: "current"}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	if _, err := DecodeEvent(eventLegacyNamed, 3, []byte(`{}`)); CodeOf(err) != "unknown_event_schema" {
		t.Fatalf("schema 3: %v, want unknown_event_schema", err)
	}
}

// FuzzDecodeMatchesEncodingJSON decodes arbitrary bytes as every registered
// event type with the production decoder and with encoding/json and requires
// the same acceptance and deeply equal values.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, p := range representativePayloads(f) {
		f.Add(p)
	}
	for _, p := range oddPayloads {
		f.Add([]byte(p))
	}
	types := registeredEventTypes()
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, et := range types {
			compareDecoders(t, et, payload)
		}
	})
}

func TestContainsType(t *testing.T) {
	type node struct {
		Next     *node
		Children []node
	}
	type deep struct {
		At *[]map[string][2]time.Time
	}
	type keyed struct {
		ByTime map[time.Time]int
	}
	timeType := reflect.TypeFor[time.Time]()
	for _, tc := range []struct {
		t    reflect.Type
		want bool
	}{
		{reflect.TypeFor[PostPublished](), true},
		{reflect.TypeFor[PostScheduled](), true},
		{reflect.TypeFor[PostEdited](), false},
		{reflect.TypeFor[MediaUploaded](), false},
		{reflect.TypeFor[deep](), true},
		{reflect.TypeFor[keyed](), true},
		{reflect.TypeFor[node](), false},
		{timeType, true},
	} {
		if got := containsType(tc.t, timeType, map[reflect.Type]bool{}); got != tc.want {
			t.Errorf("containsType(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
}

// FuzzDecodeFieldsMatchEncodingJSON splices fuzzed text into well-formed
// payload templates, so the fuzzer spends its time on string escapes, field
// name matching, numbers and time strings rather than on broken syntax.
func FuzzDecodeFieldsMatchEncodingJSON(f *testing.F) {
	f.Add("title", `a \"quoted\" \u00e9 \ud83d\ude00 line\n`, "7")
	f.Add("TITLE", "\xff\xfe invalid \\ud800", "-0")
	f.Add("ſlug", `2026-11-26T18:45:00.5+01:00`, "1e2")
	f.Add("published_at", `2026-11-26T18:45:00Z`, "9223372036854775808")
	f.Add("post_id", `\u0032026-11-26T18:45:00Z`, "null")
	types := registeredEventTypes()
	f.Fuzz(func(t *testing.T, name, text, number string) {
		payloads := []string{
			`{"` + name + `":"` + text + `"}`,
			`{"title":"` + text + `","body":"` + text + `","tags":["` + text + `"],"revision":` + number + `}`,
			`{"published_at":"` + text + `","publish_at":"` + text + `","scheduled":` + number + `}`,
			`{"` + name + `":` + number + `,"renditions":[{"` + name + `":"` + text + `","size":` + number + `}]}`,
		}
		for _, p := range payloads {
			for _, et := range types {
				compareDecoders(t, et, []byte(p))
			}
		}
	})
}
