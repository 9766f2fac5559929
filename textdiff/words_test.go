package textdiff

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// wordsReference is the plain algorithm Words implements faster: tokenize
// both texts whole, diff every token, then group and fold the runs.
func wordsReference(a, b string) []Segment {
	if a == b {
		if a == "" {
			return nil
		}
		return []Segment{{Kind: KindEqual, Text: a}}
	}
	tok := func(s string) []string {
		var toks []string
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			j := i + size
			for same := func(r2 rune) bool {
				return isWord(r) && isWord(r2) || unicode.IsSpace(r) && unicode.IsSpace(r2)
			}; j < len(s); {
				r2, n := utf8.DecodeRuneInString(s[j:])
				if !same(r2) {
					break
				}
				j += n
			}
			toks = append(toks, s[i:j])
			i = j
		}
		return toks
	}
	ta, tb := tok(a), tok(b)
	type run struct {
		equal    bool
		del, ins string
	}
	var runs []*run
	cur := func(equal bool) *run {
		if n := len(runs); n > 0 && runs[n-1].equal == equal {
			return runs[n-1]
		}
		r := &run{equal: equal}
		runs = append(runs, r)
		return r
	}
	for _, o := range diffTokens(ta, tb) {
		switch o.kind {
		case opEqual:
			cur(true).del += ta[o.aIndex]
		case opDelete:
			cur(false).del += ta[o.aIndex]
		case opInsert:
			cur(false).ins += tb[o.bIndex]
		}
	}
	var segs []Segment
	var del, ins string
	flush := func() {
		if del != "" {
			segs = append(segs, Segment{Kind: KindDelete, Text: del})
		}
		if ins != "" {
			segs = append(segs, Segment{Kind: KindInsert, Text: ins})
		}
		del, ins = "", ""
	}
	for i, r := range runs {
		if !r.equal {
			del += r.del
			ins += r.ins
			continue
		}
		if i > 0 && i < len(runs)-1 && strings.TrimSpace(r.del) == "" {
			del += r.del
			ins += r.del
			continue
		}
		flush()
		segs = append(segs, Segment{Kind: KindEqual, Text: r.del})
	}
	flush()
	return segs
}

// randomText mixes words, spaces, punctuation, non-ASCII letters and
// spaces, and now and then invalid UTF-8.
func randomText(rng *rand.Rand, n int) string {
	pieces := []string{"the", "fox", "Fox", "a", "b", "42", "x_y", " ", "  ", "\t", "\n", ",", ".", ":", "-",
		"é", "ünïcode", "日本", "\u00a0", "\u2003", "\u0085", "\v", "\xff", "\xc3", "\x80", "€"}
	var b strings.Builder
	for range n {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

func TestWordsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range 5000 {
		a := randomText(rng, rng.IntN(30))
		var b string
		switch i % 3 {
		case 0: // unrelated
			b = randomText(rng, rng.IntN(30))
		default: // an edit of a: shared prefix and suffix
			cut1 := rng.IntN(len(a) + 1)
			cut2 := cut1 + rng.IntN(len(a)-cut1+1)
			b = a[:cut1] + randomText(rng, rng.IntN(4)) + a[cut2:]
		}
		got, want := Words(a, b), wordsReference(a, b)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Words(%q, %q)\n got %q\nwant %q", a, b, got, want)
		}
	}
}

func TestWordsSimilarityCutoff(t *testing.T) {
	// words gives up on pairs that share too little, and keeps the rest
	// exactly as Words has them.
	for _, tc := range []struct {
		a, b string
		ok   bool
	}{
		{"Paragraph 7, revision 500: the editor rewrote this.", "Paragraph 7, revision 1000: the editor rewrote this.", true},
		{"completely different words here", "nothing alike at all, truly", false},
		{"", "new", false},
	} {
		var w wordDiffer
		segs, ok := w.words(tc.a, tc.b, minSimilarity)
		if ok != tc.ok {
			t.Errorf("words(%q, %q) ok = %v, want %v", tc.a, tc.b, ok, tc.ok)
		}
		if ok && !reflect.DeepEqual(segs, Words(tc.a, tc.b)) {
			t.Errorf("words(%q, %q) = %q, Words gives %q", tc.a, tc.b, segs, Words(tc.a, tc.b))
		}
	}
}

func FuzzWords(f *testing.F) {
	f.Add("the quick fox", "the slow fox")
	f.Add("a\xffb", "a\xfeb")
	f.Add("日本 語", "日本  語")
	f.Fuzz(func(t *testing.T, a, b string) {
		got := Words(a, b)
		if want := wordsReference(a, b); !reflect.DeepEqual(got, want) {
			t.Fatalf("Words(%q, %q)\n got %q\nwant %q", a, b, got, want)
		}
	})
}
