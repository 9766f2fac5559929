package domain

import (
	"strings"
	"testing"
)

// BenchmarkDecodePostEdited measures decoding one PostEdited payload with a
// ~2 KB body, the event that dominates the log (49 of every 50 seeded post
// events): every projection that reads post streams decodes it, so it
// bounds rebuild and live projection throughput.
func BenchmarkDecodePostEdited(b *testing.B) {
	body := strings.Repeat("The quick brown fox jumps over the lazy dog, \"quoted\" and\nnew lines. ", 30)
	payload, schema, err := EncodeEvent(PostEdited{
		PostContent: PostContent{Title: "A title of a post", Body: body, Excerpt: "An excerpt.", Tags: []string{"go", "events"}},
		Note:        "edit", Revision: 7,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(EventPostEdited, schema, payload); err != nil {
			b.Fatal(err)
		}
	}
}
