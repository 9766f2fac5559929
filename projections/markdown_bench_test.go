package projections

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkRenderMarkdown renders a 2 KB body like bench/lag's edits (what
// the posts projection renders once per edited post and batch):
//
//	go test ./projections -run XXX -bench RenderMarkdown -benchmem
func BenchmarkRenderMarkdown(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("Revision 7 of a lag benchmark post.\n\n")
	for sb.Len() < 2000 {
		fmt.Fprintf(&sb, "Line %d: the quick brown fox jumps over the lazy dog while *revision* %d is [measured](https://example.com).\n", sb.Len(), 7)
	}
	src := sb.String()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if RenderMarkdown(src) == "" {
			b.Fatal("empty")
		}
	}
}
