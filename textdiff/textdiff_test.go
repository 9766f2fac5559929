package textdiff

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// apply applies hunks to a and returns the new text. It fails the test when
// a context or deleted line does not match a.
func apply(t testing.TB, a string, hunks []Hunk) string {
	t.Helper()
	old := splitLines(a)
	var out strings.Builder
	pos := 0 // next unconsumed line of old (0-based)
	for _, h := range hunks {
		start := h.OldStart
		if h.OldLines > 0 {
			start--
		}
		if start < pos || start > len(old) {
			t.Fatalf("hunk old_start %d out of order (pos %d, %d lines)", h.OldStart, pos, len(old))
		}
		for _, l := range old[pos:start] {
			out.WriteString(l)
		}
		pos = start
		var nOld, nNew int
		for _, l := range h.Lines {
			raw := l.Text
			if !l.NoNewline {
				raw += "\n"
			}
			switch l.Kind {
			case KindContext, KindDelete:
				if pos >= len(old) || old[pos] != raw {
					t.Fatalf("hunk line %q does not match old line %d", raw, pos+1)
				}
				pos++
				nOld++
				if l.Kind == KindContext {
					out.WriteString(raw)
					nNew++
				}
			case KindInsert:
				out.WriteString(raw)
				nNew++
			default:
				t.Fatalf("unknown line kind %q", l.Kind)
			}
		}
		if nOld != h.OldLines || nNew != h.NewLines {
			t.Fatalf("hunk counts %d/%d, lines say %d/%d", h.OldLines, h.NewLines, nOld, nNew)
		}
	}
	for _, l := range old[pos:] {
		out.WriteString(l)
	}
	return out.String()
}

// checkSegments verifies that the segments of a changed line rebuild its text.
func checkSegments(t testing.TB, hunks []Hunk) {
	t.Helper()
	for _, h := range hunks {
		for _, l := range h.Lines {
			if l.Segments == nil {
				continue
			}
			var sb strings.Builder
			for _, s := range l.Segments {
				if s.Kind != KindEqual && s.Kind != l.Kind {
					t.Fatalf("segment kind %q on %s line", s.Kind, l.Kind)
				}
				sb.WriteString(s.Text)
			}
			if sb.String() != l.Text {
				t.Fatalf("segments %q rebuild %q, want %q", l.Segments, sb.String(), l.Text)
			}
		}
	}
}

// rebuildWords returns the old and new texts described by segments.
func rebuildWords(segs []Segment) (string, string) {
	var a, b strings.Builder
	for _, s := range segs {
		if s.Kind != KindInsert {
			a.WriteString(s.Text)
		}
		if s.Kind != KindDelete {
			b.WriteString(s.Text)
		}
	}
	return a.String(), b.String()
}

func TestLines(t *testing.T) {
	tests := []struct {
		name    string
		a, b    string
		context int
		want    []Hunk
	}{
		{name: "equal", a: "x\ny\n", b: "x\ny\n", context: 3, want: nil},
		{name: "both empty", a: "", b: "", context: 3, want: nil},
		{
			name: "from empty", a: "", b: "one\ntwo\n", context: 3,
			want: []Hunk{{OldStart: 0, OldLines: 0, NewStart: 1, NewLines: 2, Lines: []Line{
				{Kind: KindInsert, Text: "one"}, {Kind: KindInsert, Text: "two"},
			}}},
		},
		{
			name: "to empty", a: "one\n", b: "", context: 3,
			want: []Hunk{{OldStart: 1, OldLines: 1, NewStart: 0, NewLines: 0, Lines: []Line{
				{Kind: KindDelete, Text: "one"},
			}}},
		},
		{
			name: "changed word in middle", a: "a\nb\nthe quick fox\nc\nd\n", b: "a\nb\nthe slow fox\nc\nd\n", context: 1,
			want: []Hunk{{OldStart: 2, OldLines: 3, NewStart: 2, NewLines: 3, Lines: []Line{
				{Kind: KindContext, Text: "b"},
				{Kind: KindDelete, Text: "the quick fox", Segments: []Segment{{KindEqual, "the "}, {KindDelete, "quick"}, {KindEqual, " fox"}}},
				{Kind: KindInsert, Text: "the slow fox", Segments: []Segment{{KindEqual, "the "}, {KindInsert, "slow"}, {KindEqual, " fox"}}},
				{Kind: KindContext, Text: "c"},
			}}},
		},
		{
			name: "dissimilar lines get no segments", a: "alpha beta\n", b: "gamma delta\n", context: 0,
			want: []Hunk{{OldStart: 1, OldLines: 1, NewStart: 1, NewLines: 1, Lines: []Line{
				{Kind: KindDelete, Text: "alpha beta"}, {Kind: KindInsert, Text: "gamma delta"},
			}}},
		},
		{
			name: "insert with zero context", a: "a\nb\n", b: "a\nnew\nb\n", context: 0,
			want: []Hunk{{OldStart: 1, OldLines: 0, NewStart: 2, NewLines: 1, Lines: []Line{
				{Kind: KindInsert, Text: "new"},
			}}},
		},
		{
			name: "two separate hunks", a: "1\n2\n3\n4\n5\n6\n7\n8\n", b: "1\nX\n3\n4\n5\n6\nY\n8\n", context: 1,
			want: []Hunk{
				{OldStart: 1, OldLines: 3, NewStart: 1, NewLines: 3, Lines: []Line{
					{Kind: KindContext, Text: "1"}, {Kind: KindDelete, Text: "2"}, {Kind: KindInsert, Text: "X"}, {Kind: KindContext, Text: "3"},
				}},
				{OldStart: 6, OldLines: 3, NewStart: 6, NewLines: 3, Lines: []Line{
					{Kind: KindContext, Text: "6"}, {Kind: KindDelete, Text: "7"}, {Kind: KindInsert, Text: "Y"}, {Kind: KindContext, Text: "8"},
				}},
			},
		},
		{
			name: "close hunks merge", a: "1\n2\n3\n4\n", b: "X\n2\n3\nY\n", context: 1,
			want: []Hunk{{OldStart: 1, OldLines: 4, NewStart: 1, NewLines: 4, Lines: []Line{
				{Kind: KindDelete, Text: "1"}, {Kind: KindInsert, Text: "X"}, {Kind: KindContext, Text: "2"},
				{Kind: KindContext, Text: "3"}, {Kind: KindDelete, Text: "4"}, {Kind: KindInsert, Text: "Y"},
			}}},
		},
		{
			name: "missing final newline", a: "a\nb", b: "a\nb\n", context: 0,
			want: []Hunk{{OldStart: 2, OldLines: 1, NewStart: 2, NewLines: 1, Lines: []Line{
				{Kind: KindDelete, Text: "b", NoNewline: true, Segments: []Segment{{KindEqual, "b"}}},
				{Kind: KindInsert, Text: "b", Segments: []Segment{{KindEqual, "b"}}},
			}}},
		},
		{
			name: "full context", a: "a\nb\nc\n", b: "a\nB\nc\n", context: -1,
			want: []Hunk{{OldStart: 1, OldLines: 3, NewStart: 1, NewLines: 3, Lines: []Line{
				{Kind: KindContext, Text: "a"}, {Kind: KindDelete, Text: "b"}, {Kind: KindInsert, Text: "B"}, {Kind: KindContext, Text: "c"},
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Lines(tt.a, tt.b, tt.context)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Lines(%q, %q, %d)\n got %+v\nwant %+v", tt.a, tt.b, tt.context, got, tt.want)
			}
			if b := apply(t, tt.a, got); b != tt.b {
				t.Fatalf("applying hunks gives %q, want %q", b, tt.b)
			}
		})
	}
}

func TestWords(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want []Segment
	}{
		{name: "empty", a: "", b: "", want: nil},
		{name: "equal", a: "same text", b: "same text", want: []Segment{{KindEqual, "same text"}}},
		{name: "insert word", a: "a cat", b: "a black cat", want: []Segment{{KindEqual, "a "}, {KindInsert, "black "}, {KindEqual, "cat"}}},
		{name: "delete word", a: "a black cat", b: "a cat", want: []Segment{{KindEqual, "a "}, {KindDelete, "black "}, {KindEqual, "cat"}}},
		{
			name: "phrase folds whitespace", a: "we saw the quick brown fox today", b: "we saw a slow red fox today",
			want: []Segment{{KindEqual, "we saw "}, {KindDelete, "the quick brown"}, {KindInsert, "a slow red"}, {KindEqual, " fox today"}},
		},
		{name: "punctuation", a: "Hello, world.", b: "Hello; world!", want: []Segment{
			{KindEqual, "Hello"}, {KindDelete, ","}, {KindInsert, ";"}, {KindEqual, " world"}, {KindDelete, "."}, {KindInsert, "!"},
		}},
		{name: "unicode", a: "grüße an alle", b: "grüße an euch", want: []Segment{{KindEqual, "grüße an "}, {KindDelete, "alle"}, {KindInsert, "euch"}}},
		{name: "from empty", a: "", b: "new", want: []Segment{{KindInsert, "new"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Words(tt.a, tt.b)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Words(%q, %q)\n got %q\nwant %q", tt.a, tt.b, got, tt.want)
			}
			if a, b := rebuildWords(got); a != tt.a || b != tt.b {
				t.Fatalf("segments rebuild %q / %q", a, b)
			}
		})
	}
}

func TestTags(t *testing.T) {
	tests := []struct {
		name           string
		a, b           []string
		added, removed []string
	}{
		{name: "none", a: nil, b: nil},
		{name: "same", a: []string{"go", "cms"}, b: []string{"cms", "go"}},
		{name: "added", a: []string{"go"}, b: []string{"go", "cms", "db"}, added: []string{"cms", "db"}},
		{name: "removed", a: []string{"go", "cms", "db"}, b: []string{"db"}, removed: []string{"go", "cms"}},
		{name: "both with duplicates", a: []string{"x", "x", "y"}, b: []string{"z", "y", "z"}, added: []string{"z"}, removed: []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			added, removed := Tags(tt.a, tt.b)
			if !reflect.DeepEqual(added, tt.added) || !reflect.DeepEqual(removed, tt.removed) {
				t.Fatalf("Tags(%q, %q) = %q, %q; want %q, %q", tt.a, tt.b, added, removed, tt.added, tt.removed)
			}
		})
	}
}

// TestMinimal checks the diff is minimal on inputs small enough for the
// exact search, against a quadratic LCS.
func TestMinimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		a := randomTokens(rng, rng.IntN(40), 4)
		b := randomTokens(rng, rng.IntN(40), 4)
		ops := diffTokens(a, b)
		equal := 0
		for _, o := range ops {
			if o.kind == opEqual {
				equal++
			}
		}
		if want := lcs(a, b); equal != want {
			t.Fatalf("case %d: %d equal tokens, LCS is %d (a=%q b=%q)", i, equal, want, a, b)
		}
	}
}

// TestPathologicalBounded checks that unrelated large inputs are bounded in
// time and still produce a correct diff.
func TestPathologicalBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := strings.Join(randomTokens(rng, 30000, 1000), "\n") + "\n"
	b := strings.Join(randomTokens(rng, 30000, 1000), "\n") + "\n"
	start := time.Now()
	hunks := Lines(a, b, 3)
	elapsed := time.Since(start)
	if got := apply(t, a, hunks); got != b {
		t.Fatal("applying hunks does not rebuild b")
	}
	if elapsed > timeScale*5*time.Second {
		t.Fatalf("diff of 30,000 unrelated lines took %v", elapsed)
	}
	t.Logf("30,000 unrelated lines: %v", elapsed)

	// One 200 KB line each (a body without newlines): the word diff of the
	// paired lines must be bounded too.
	a = strings.Join(randomTokens(rng, 40000, 500), " ")
	b = strings.Join(randomTokens(rng, 40000, 500), " ")
	start = time.Now()
	hunks = Lines(a, b, 3)
	elapsed = time.Since(start)
	if got := apply(t, a, hunks); got != b {
		t.Fatal("applying hunks does not rebuild b")
	}
	if elapsed > timeScale*5*time.Second {
		t.Fatalf("diff of two unrelated 200 KB lines took %v", elapsed)
	}
	t.Logf("two unrelated 200 KB lines: %v", elapsed)

	start = time.Now()
	segs := Words(a, b)
	elapsed = time.Since(start)
	if wa, wb := rebuildWords(segs); wa != a || wb != b {
		t.Fatal("word segments do not rebuild the texts")
	}
	if elapsed > timeScale*5*time.Second {
		t.Fatalf("word diff of two unrelated 200 KB texts took %v", elapsed)
	}
	t.Logf("word diff of two unrelated 200 KB texts: %v", elapsed)
}

func randomTokens(rng *rand.Rand, n, alphabet int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(rng.IntN(alphabet))
	}
	return out
}

func lcs(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				cur[j] = prev[j-1] + 1
			default:
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func FuzzLines(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nB\nc\nd", 3)
	f.Add("", "x", 0)
	f.Add("the quick fox\n", "the slow fox\n", 1)
	f.Add("1\n2\n3\n4\n5\n6\n7\n", "0\n2\n3\n5\n6\n7\n8\n", 0)
	f.Fuzz(func(t *testing.T, a, b string, context int) {
		context = context%8 - 1 // exercise -1 (full) to 6
		hunks := Lines(a, b, context)
		if got := apply(t, a, hunks); got != b {
			t.Fatalf("applying hunks to %q gives %q, want %q", a, got, b)
		}
		checkSegments(t, hunks)
		if wa, wb := rebuildWords(Words(a, b)); wa != a || wb != b {
			t.Fatalf("Words segments rebuild %q / %q, want %q / %q", wa, wb, a, b)
		}
	})
}

// revisions returns a ~10 KB Markdown text and an edited copy of it.
func revisions() (string, string) {
	rng := rand.New(rand.NewPCG(5, 6))
	words := strings.Fields("event sourced content management system stores every change as an immutable fact the projection builds read models from the global log while editors publish posts and authors draft revisions")
	var a []string
	size := 0
	for size < 10*1024 {
		n := 6 + rng.IntN(10)
		line := make([]string, n)
		for i := range line {
			line[i] = words[rng.IntN(len(words))]
		}
		l := strings.Join(line, " ")
		a = append(a, l)
		size += len(l) + 1
	}
	b := append([]string(nil), a...)
	for range 15 {
		i := rng.IntN(len(b))
		switch rng.IntN(3) {
		case 0: // change a word
			f := strings.Fields(b[i])
			f[rng.IntN(len(f))] = "CHANGED"
			b[i] = strings.Join(f, " ")
		case 1: // insert a line
			b = append(b[:i], append([]string{"a brand new line of text"}, b[i:]...)...)
		case 2: // delete a line
			b = append(b[:i], b[i+1:]...)
		}
	}
	return strings.Join(a, "\n") + "\n", strings.Join(b, "\n") + "\n"
}

func TestRevisionsRoundTrip(t *testing.T) {
	a, b := revisions()
	hunks := Lines(a, b, 3)
	if len(hunks) == 0 {
		t.Fatal("no hunks for edited text")
	}
	if got := apply(t, a, hunks); got != b {
		t.Fatal("applying hunks does not rebuild b")
	}
	checkSegments(t, hunks)
}

func BenchmarkLines10KB(b *testing.B) {
	x, y := revisions()
	b.SetBytes(int64(len(x) + len(y)))
	b.ReportAllocs()
	for b.Loop() {
		Lines(x, y, 3)
	}
}

func BenchmarkLines10KBUnrelated(b *testing.B) {
	x, _ := revisions()
	rng := rand.New(rand.NewPCG(7, 8))
	lines := strings.Split(x, "\n")
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	y := strings.Join(lines, "\n")
	b.ReportAllocs()
	for b.Loop() {
		Lines(x, y, 3)
	}
}
