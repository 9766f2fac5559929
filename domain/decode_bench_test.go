package domain

import (
	"encoding/json"
	"strings"
	"testing"
)

// postEditedPayload returns a PostEdited payload with a ~2 KB Markdown body
// full of characters that need escaping, as encoding/json stores it.
func postEditedPayload(b *testing.B) (payload []byte, schema int) {
	b.Helper()
	body := strings.Repeat("The quick brown fox jumps over the lazy dog, \"quoted\" and\nnew lines. ", 30)
	payload, schema, err := EncodeEvent(PostEdited{
		PostContent: PostContent{Title: "A title of a post", Body: body, Excerpt: "An excerpt.", Tags: []string{"go", "events"}},
		Note:        "edit", Revision: 7,
	})
	if err != nil {
		b.Fatal(err)
	}
	return payload, schema
}

// BenchmarkDecodePostEdited measures decoding one PostEdited payload with a
// ~2 KB body, the event that dominates the log (49 of every 50 seeded post
// events): every projection that reads post streams decodes it, so it
// bounds rebuild and live projection throughput.
func BenchmarkDecodePostEdited(b *testing.B) {
	payload, schema := postEditedPayload(b)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(EventPostEdited, schema, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePostEditedEncodingJSON decodes the same payload with
// encoding/json, the decoder DecodeEvent used before, as a same-run
// reference for BenchmarkDecodePostEdited.
func BenchmarkDecodePostEditedEncodingJSON(b *testing.B) {
	payload, _ := postEditedPayload(b)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var e PostEdited
		if err := json.Unmarshal(payload, &e); err != nil {
			b.Fatal(err)
		}
	}
}
