package textdiff

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// fixtureRevision returns revision r of the body bench/fixture writes: ~10 KB
// of lines where every edit rewrote three lines (only the revision number in
// a rewritten line changes).
func fixtureRevision(r int) string {
	line := func(i, r int) string {
		return fmt.Sprintf("Paragraph %d, revision %d: the editor rewrote this sentence about projections and read models.", i, r)
	}
	var lines []string
	for size, i := 0, 0; size < 10_000; i++ {
		lines = append(lines, line(i, 1))
		size += len(lines[i]) + 1
	}
	for rev := 2; rev <= r; rev++ {
		for k := range 3 {
			i := (rev*7 + k*len(lines)/3) % len(lines)
			lines[i] = line(i, rev)
		}
	}
	return strings.Join(lines, "\n")
}

// BenchmarkLinesFixture measures the diffs the HTTP diff benchmark requests
// (GET /api/v1/posts/{id}/diff on bench/fixture's 1,000-revision post):
// adjacent revisions, and revisions 500 and 1000, where every line changed.
func BenchmarkLinesFixture(b *testing.B) {
	for _, tc := range []struct{ from, to int }{{999, 1000}, {500, 1000}} {
		x, y := fixtureRevision(tc.from), fixtureRevision(tc.to)
		b.Run(fmt.Sprintf("%d-%d", tc.from, tc.to), func(b *testing.B) {
			b.SetBytes(int64(len(x) + len(y)))
			b.ReportAllocs()
			for b.Loop() {
				if len(Lines(x, y, 3)) == 0 {
					b.Fatal("no hunks")
				}
			}
		})
	}
}

// BenchmarkLines10KBRewrite diffs two ~10 KB texts written independently
// from the same vocabulary: every line changed, paired lines share words
// but little else.
func BenchmarkLines10KBRewrite(b *testing.B) {
	x := proseText(1, 10_000)
	y := proseText(2, 10_000)
	b.SetBytes(int64(len(x) + len(y)))
	b.ReportAllocs()
	for b.Loop() {
		if len(Lines(x, y, 3)) == 0 {
			b.Fatal("no hunks")
		}
	}
}

// proseText returns about n bytes of lines of words, seeded.
func proseText(seed uint64, n int) string {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	words := strings.Fields("event sourced content management system stores every change as an immutable fact the projection builds read models from the global log while editors publish posts and authors draft revisions")
	var b strings.Builder
	for b.Len() < n {
		for i, k := 0, 6+rng.IntN(10); i < k; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[rng.IntN(len(words))])
		}
		b.WriteByte('\n')
	}
	return b.String()
}
