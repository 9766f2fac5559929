package projections

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// decodeBoth decodes rec with the rebuild's decoder and with logEntry and
// fails unless they agree (value and error).
func decodeBoth(t testing.TB, rec eventstore.RecordedEvent, payload bool) Event {
	t.Helper()
	var d rebuildDecoder
	got, gotErr := d.event(rec, payload)
	want, wantErr := newLogEntry(rec).event(payload)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("type %s payload %v meta %q data %q: error %v, generic %v", rec.Type, payload, rec.Metadata, rec.Data, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("type %s payload %v meta %q data %q:\n got %#v\nwant %#v", rec.Type, payload, rec.Metadata, rec.Data, got, want)
	}
	return got
}

func testRecord(typ string, meta, data string) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		Position: 42, ID: uuid.MustParse("0b8f95ad-aefa-491e-ad50-84f62d5398aa"), StreamID: "post-0b8f95ad-aefa-491e-ad50-84f62d5398ab",
		Version: 7, Type: typ, Data: []byte(data), Metadata: []byte(meta),
		RecordedAt: time.Date(2026, 2, 7, 11, 48, 48, 505498000, time.UTC),
	}
}

const canonicalMeta = `{"actor_id":"01a219a0-a15a-70f2-8d6f-97297b0e91ec","actor_role":"author","correlation_id":"0b8f95ad","causation_id":"","occurred_at":"2026-02-07T11:48:48.505498Z","schema":1}`

// Encoded by encoding/json, as the store's writers do, the common events
// take the fast path and decode as the generic path does.
func TestRebuildDecodeMatchesGeneric(t *testing.T) {
	tricky := []string{"", "plain", "line\nbreak\ttab\r", `quote " backslash \ slash /`, "<html> & 'amp'", "ünïcödé — “quotes” 日本語 🚲",
		"\u2028\u2029", "nul\x00ctl\x01\x1f\x7f", "a\ufffdb", strings.Repeat("# Heading\n\nText with [link](https://example.com/?a=1&b=2).\n", 200)}
	metas := []domain.Metadata{
		{ActorID: "01a219a0", ActorRole: domain.RoleAuthor, CorrelationID: "c", OccurredAt: time.Date(2026, 2, 7, 11, 48, 48, 505498000, time.UTC), Schema: 1},
		{ActorID: "ü<&>", ActorRole: "weird\"role", CausationID: "x\ny", OccurredAt: time.Date(1999, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))},
		{},
	}
	var events []domain.Event
	for i, s := range tricky {
		c := domain.PostContent{Title: s, Body: tricky[(i+1)%len(tricky)], Excerpt: tricky[(i+2)%len(tricky)]}
		switch i % 3 {
		case 0:
			c.Tags = []string{s, "go"}
		case 1:
			c.Tags = []string{}
		}
		events = append(events,
			domain.PostEdited{PostContent: c, Note: s, Revision: i + 2},
			domain.PostDrafted{PostID: "p" + s, AuthorID: "a", Slug: s, PostContent: c, Revision: 1},
			domain.PostReverted{TargetRevision: i, PostContent: c, Note: s, Revision: -i})
	}
	events = append(events, domain.PostPublished{PublishedAt: time.Now().UTC()}, domain.PostSubmittedForReview{})
	fast := 0
	for _, m := range metas {
		meta, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			for _, payload := range []bool{false, true} {
				rec := testRecord(e.EventType(), string(meta), string(data))
				decodeBoth(t, rec, payload)
				var d rebuildDecoder
				if _, ok := d.metadata(rec.Metadata); !ok {
					t.Errorf("metadata %s: not on the fast path", meta)
				}
				if _, ok := d.payload(rec.Type, m.Schema, rec.Data); ok {
					fast++
				}
			}
		}
	}
	if want := 2 * len(metas) * 3 * len(tricky); fast != want {
		t.Errorf("%d payloads on the fast path, want %d", fast, want)
	}
}

// Inputs outside the fast path's shape fall back to the generic decoders:
// same values, same errors.
func TestRebuildDecodeEdgeCases(t *testing.T) {
	metas := []string{canonicalMeta, "", "null", "{}", " " + canonicalMeta, canonicalMeta + " ", canonicalMeta + "x",
		`{"Actor_ID":"x","actor_id":"y"}`, `{"actor_id":"x","actor_id":"y"}`, `{"actor_id":null}`, `{"schema":2}`, `{"schema":1.0}`,
		`{"schema":01}`, `{"schema":-0}`, `{"schema":99999999999999999999}`, `{"schema":"1"}`, `{"occurred_at":"2026-02-07T11:48:48Z"}`,
		`{"occurred_at":"bad"}`, `{"occurred_at":"2026-02-07T11:48:48\u005a"}`, `{"occurred_at":null}`, `{"actor_id":"\ud83d\udeb2"}`,
		`{"actor_id":"\ud83d"}`, "{\"actor_id\":\"\xff\"}", `{"actor_id":"a\u00e9\/b"}`, `{"extra":1}`, `{"actor_id":"x",}`, `{`, `[]`,
		"{\"actor_id\":\"tab\there\"}", `{"actor_id":"\x"}`, `{"actor_id":"\u12"}`}
	datas := []string{`{"title":"t","body":"b\nc","excerpt":"e","tags":["a","b"],"revision":3}`, `{}`, ``, `  `, `null`,
		`{"title":"t","Title":"u"}`, `{"TITLE":"u"}`, `{"title":"t","title":"u"}`, `{"tags":null}`, `{"tags":[]}`, `{"tags":[ ]}`,
		`{"tags":["a",]}`, `{"tags":["a" ,"b"]}`, `{"tags":[1]}`, `{"tags":["a",null]}`, `{"tags":[null]}`, `{"title":nul}`, `{"revision":null,"note":null}`, `{"revision":1e2}`, `{"revision":1.5}`, `{"revision":-3}`,
		`{"revision":9223372036854775807}`, `{"revision":"3"}`, `{"note":"n","target_revision":2}`, `{"post_id":"p","slug":"s","author_id":"a"}`,
		`{"body":"\ud800"}`, `{"body":"\udc00\ud800"}`, `{"body":"\u0000\u001f\u00e9\u2028\uFFFF"}`, "{\"body\":\"\xe2\x82\"}",
		"{\"body\":\"ok \xe2\x82\xac\"}", "{\"body\":\"\\n\xc3\"}", `{"body":"a\\"}`, "{\"body\":\"abcdefghijklmnop\xffqrstuvwxyz0123456789\"}", "{\"body\":\"abcdefgh\\nijklmnop\xe2\x82qrstuvwxyz0123456789\"}",
		"{\"body\":\"abcdefgh\\nijklmnop\xe2\x82\xacqrstuvwxyz0123456789\"}", "{\"title\":\"0123456789abcdef\x01\"}", `{"body":"unterminated`, `{"unknown":{"a":[1,2]}}`,
		`{"title":"t"}{"title":"u"}`, `{"title":"t"} `, `{"title" : "t"}`}
	types := []string{domain.EventPostEdited, domain.EventPostDrafted, domain.EventPostReverted, domain.EventPostPublished, "NoSuchEvent"}
	for _, m := range metas {
		for _, data := range datas {
			for _, typ := range types {
				for _, payload := range []bool{false, true} {
					decodeBoth(t, testRecord(typ, m, data), payload)
				}
			}
		}
	}
}

func FuzzRebuildDecodeMatchesGeneric(f *testing.F) {
	f.Add(canonicalMeta, `{"title":"t","body":"b\nc","excerpt":"e","tags":["a","b"],"revision":3}`, uint8(0))
	f.Add(`{"schema":1}`, `{"post_id":"p","author_id":"a","slug":"s","title":"\u00e9","body":"","excerpt":"","tags":[],"revision":1}`, uint8(1))
	f.Add(`{}`, `{"target_revision":1,"title":"","body":"x\ud83d\udeb2","excerpt":"","tags":null,"note":"n","revision":4}`, uint8(2))
	types := []string{domain.EventPostEdited, domain.EventPostDrafted, domain.EventPostReverted}
	f.Fuzz(func(t *testing.T, meta, data string, typ uint8) {
		rec := testRecord(types[int(typ)%len(types)], meta, data)
		decodeBoth(t, rec, true)
		decodeBoth(t, rec, false)
	})
}

// BenchmarkRebuildDecode compares the fast path with the generic decoders
// on a typical PostEdited.
func BenchmarkRebuildDecode(b *testing.B) {
	body := strings.Repeat("Most people start with a expensive constraint and only later notice what it breaks.\n\n", 35)
	data, _ := json.Marshal(domain.PostEdited{PostContent: domain.PostContent{Title: "A practical guide", Body: body, Excerpt: body[:200], Tags: []string{"a", "b"}}, Revision: 7})
	rec := testRecord(domain.EventPostEdited, canonicalMeta, string(data))
	b.Run("fast", func(b *testing.B) {
		var d rebuildDecoder
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := d.event(rec, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generic", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := newLogEntry(rec).event(true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestRebuildDecodeHasStop(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			var b [8]byte
			for i := range b {
				b[i] = 'a'
				if i > pos {
					b[i] = byte(0x20 + (i*37+c)%0x5f) // printable, after the tested byte
					if b[i] == '"' || b[i] == '\\' {
						b[i] = 'z'
					}
				}
			}
			b[pos] = byte(c)
			if got, want := hasStop(binary.LittleEndian.Uint64(b[:])), strStop[c]; got != want {
				t.Fatalf("byte %#x at %d: hasStop %v, want %v", c, pos, got, want)
			}
		}
	}
}
