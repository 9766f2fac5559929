// Package textdiff compares two revisions of a text for the revision diff
// endpoint and the history UI: line hunks in the style of a unified diff,
// with the changed words of paired deleted/inserted lines marked.
//
// The diff is Myers' algorithm in linear space with a bound on the work
// spent on pathological inputs (see myers.go), so two 10 KB revisions diff
// in well under a millisecond and large, unrelated inputs stay cheap.
package textdiff

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line kinds.
const (
	KindContext = "context"
	KindDelete  = "delete"
	KindInsert  = "insert"
)

// Segment kinds.
const (
	KindEqual = "equal"
)

// Hunk is one region of change with its surrounding context, numbered like
// a unified diff: OldStart and NewStart are 1-based line numbers of the
// first line of the hunk in the old and new text; when a side has no lines
// in the hunk (OldLines or NewLines is 0) its start is the number of the
// line after which the change applies (0 at the very beginning).
type Hunk struct {
	OldStart int    `json:"old_start"`
	OldLines int    `json:"old_lines"`
	NewStart int    `json:"new_start"`
	NewLines int    `json:"new_lines"`
	Lines    []Line `json:"lines"`
}

// Line is one line of a hunk. Kind is "context", "delete" or "insert". Text
// is the line without its "\n". NoNewline is set on the last line of a text
// that does not end with a newline. Segments is set on paired changed lines
// (the i-th deleted and i-th inserted line of a run of changes) when they
// are similar enough for a word diff to help (and not longer than 32 KB
// together): a deleted line then has
// "equal" and "delete" segments, an inserted line "equal" and "insert"
// segments, concatenating to Text.
type Line struct {
	Kind      string    `json:"kind"`
	Text      string    `json:"text"`
	NoNewline bool      `json:"no_newline,omitempty"`
	Segments  []Segment `json:"segments,omitempty"`
}

// Segment is a run of text that is equal in both versions, deleted from the
// old one or inserted in the new one.
type Segment struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// minSimilarity is the share of equal characters two paired lines need for
// their word diff to be attached; below it the lines are simply replaced.
const minSimilarity = 0.3

// maxWordDiffBytes bounds the combined size of two paired lines that get a
// word diff; longer lines (a body without newlines) are simply replaced.
const maxWordDiffBytes = 32 << 10

// Lines returns the hunks turning a into b, each with up to context
// unchanged lines around its changes (hunks whose contexts touch are
// merged). A negative context returns the whole text as one hunk. Equal
// texts give no hunks.
func Lines(a, b string, context int) []Hunk {
	if a == b {
		return nil
	}
	la, lb := splitLines(a), splitLines(b)
	ops := diffTokens(la, lb)

	// Find the hunk ranges in ops: runs of changes extended by context.
	type span struct{ lo, hi int }
	var spans []span
	if context < 0 {
		spans = []span{{0, len(ops)}}
	} else {
		for i := 0; i < len(ops); {
			if ops[i].kind == opEqual {
				i++
				continue
			}
			j := i
			for j < len(ops) && ops[j].kind != opEqual {
				j++
			}
			lo, hi := max(i-context, 0), min(j+context, len(ops))
			if n := len(spans); n > 0 && lo <= spans[n-1].hi {
				spans[n-1].hi = hi
			} else {
				spans = append(spans, span{lo, hi})
			}
			i = j
		}
	}

	hunks := make([]Hunk, 0, len(spans))
	for _, s := range spans {
		h := Hunk{}
		first := ops[s.lo]
		for _, o := range ops[s.lo:s.hi] {
			switch o.kind {
			case opEqual:
				h.OldLines++
				h.NewLines++
				h.Lines = append(h.Lines, makeLine(KindContext, la[o.aIndex]))
			case opDelete:
				h.OldLines++
				h.Lines = append(h.Lines, makeLine(KindDelete, la[o.aIndex]))
			case opInsert:
				h.NewLines++
				h.Lines = append(h.Lines, makeLine(KindInsert, lb[o.bIndex]))
			}
		}
		h.OldStart, h.NewStart = first.aIndex, first.bIndex
		if h.OldLines > 0 {
			h.OldStart++
		}
		if h.NewLines > 0 {
			h.NewStart++
		}
		markWords(h.Lines)
		hunks = append(hunks, h)
	}
	return hunks
}

// splitLines splits s after each "\n"; a final line without "\n" is kept.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// makeLine builds a Line from a raw line that may end in "\n".
func makeLine(kind, raw string) Line {
	text, ok := strings.CutSuffix(raw, "\n")
	return Line{Kind: kind, Text: text, NoNewline: !ok}
}

// markWords attaches word segments to the paired lines of each run of
// deletions followed by insertions.
func markWords(lines []Line) {
	var w wordDiffer
	for i := 0; i < len(lines); {
		if lines[i].Kind != KindDelete {
			i++
			continue
		}
		d0 := i
		for i < len(lines) && lines[i].Kind == KindDelete {
			i++
		}
		i0 := i
		for i < len(lines) && lines[i].Kind == KindInsert {
			i++
		}
		for k := 0; k < min(i0-d0, i-i0); k++ {
			del, ins := &lines[d0+k], &lines[i0+k]
			if len(del.Text)+len(ins.Text) > maxWordDiffBytes {
				continue
			}
			segs, ok := w.words(del.Text, ins.Text, minSimilarity)
			if !ok {
				continue
			}
			nd, ni := 0, 0
			for _, s := range segs {
				if s.Kind != KindInsert {
					nd++
				}
				if s.Kind != KindDelete {
					ni++
				}
			}
			buf := make([]Segment, 0, nd+ni)
			for _, s := range segs {
				if s.Kind != KindInsert {
					buf = append(buf, s)
				}
			}
			for _, s := range segs {
				if s.Kind != KindDelete {
					buf = append(buf, s)
				}
			}
			del.Segments, ins.Segments = buf[:nd:nd], buf[nd:]
		}
	}
}

// similarity returns the share of characters of both texts that are equal.
func similarity(segs []Segment, total int) float64 {
	if total == 0 {
		return 1
	}
	eq := 0
	for _, s := range segs {
		if s.Kind == KindEqual {
			eq += 2 * len(s.Text)
		}
	}
	return float64(eq) / float64(total)
}

// Words returns the word-level diff of a and b: segments that, taking the
// "equal" and "delete" ones, concatenate to a, and taking the "equal" and
// "insert" ones, concatenate to b. Words are runs of letters and digits;
// whitespace runs and punctuation characters are tokens of their own.
// Within each change, deleted text comes before inserted text, and a
// whitespace-only equal run between two changes is folded into them so the
// result reads as whole phrases.
func Words(a, b string) []Segment {
	var w wordDiffer
	segs, _ := w.words(a, b, 0)
	return segs
}

// wordDiffer holds the buffers of word diffs, reused from one to the next
// (the paired lines of one Lines call).
type wordDiffer struct {
	d      differ
	ta, tb []string
	runs   []wordRun
	segs   []Segment
}

// wordRun is an equal run or a change run of a word diff. Tokens are
// contiguous substrings, so a run is a byte range of a (equal text,
// deleted text) and of b (inserted text).
type wordRun struct {
	equal              bool
	aLo, aHi, bLo, bHi int
}

// words is Words, except that it returns (nil, false) when fewer than
// minSimilarity of the characters of a and b are in equal segments (see
// similarity). The segments are valid until the next call.
func (w *wordDiffer) words(a, b string, minSimilarity float64) ([]Segment, bool) {
	if a == b {
		if a == "" {
			return nil, true
		}
		return []Segment{{Kind: KindEqual, Text: a}}, true
	}
	// The common prefix and suffix of tokens are equal runs whatever the
	// diff of the middle is (the diff strips them first too), so only the
	// middle is tokenized and diffed; on edited prose it is a word or two.
	// Valid UTF-8 is scanned token by token from both ends (tokens are
	// maximal runs, so scanning backwards finds the same ones); other input
	// is tokenized whole first.
	preBytes, sufBytes := 0, 0
	if utf8.ValidString(a) && utf8.ValidString(b) {
		for preBytes < len(a) && preBytes < len(b) {
			ea, eb := tokenEnd(a, preBytes), tokenEnd(b, preBytes)
			if ea != eb || a[preBytes:ea] != b[preBytes:eb] {
				break
			}
			preBytes = ea
		}
		for preBytes < len(a)-sufBytes && preBytes < len(b)-sufBytes {
			ja, jb := len(a)-sufBytes, len(b)-sufBytes
			sa, sb := tokenStart(a, ja), tokenStart(b, jb)
			if sa < preBytes || sb < preBytes || ja-sa != jb-sb || a[sa:ja] != b[sb:jb] {
				break
			}
			sufBytes += ja - sa
		}
	}
	// One token replaced by another (a changed word) needs no diff.
	var ma, mb []string
	ea, eb := len(a)-sufBytes, len(b)-sufBytes
	single := preBytes < ea && preBytes < eb && tokenEnd(a, preBytes) == ea && tokenEnd(b, preBytes) == eb
	if !single {
		w.ta, w.tb = tokenize(w.ta[:0], a[preBytes:ea]), tokenize(w.tb[:0], b[preBytes:eb])
		ma, mb = w.ta, w.tb
		pre := 0
		for pre < len(ma) && pre < len(mb) && ma[pre] == mb[pre] {
			pre++
		}
		suf := 0
		for suf < len(ma)-pre && suf < len(mb)-pre && ma[len(ma)-1-suf] == mb[len(mb)-1-suf] {
			suf++
		}
		preBytes += tokenBytes(ma[:pre])
		sufBytes += tokenBytes(ma[len(ma)-suf:])
		ma, mb = ma[pre:len(ma)-suf], mb[pre:len(mb)-suf]
	}

	// Group the script into alternating equal runs and change runs.
	runs := w.runs[:0]
	ai, bi := 0, 0 // byte offsets in a and b
	add := func(equal bool, da, db int) {
		if n := len(runs); n == 0 || runs[n-1].equal != equal {
			runs = append(runs, wordRun{equal: equal, aLo: ai, aHi: ai, bLo: bi, bHi: bi})
		}
		ai += da
		bi += db
		r := &runs[len(runs)-1]
		r.aHi, r.bHi = ai, bi
	}
	if preBytes > 0 {
		add(true, preBytes, preBytes)
	}
	switch {
	case single, len(ma) == 0, len(mb) == 0:
		add(false, len(a)-sufBytes-ai, len(b)-sufBytes-bi)
	default:
		w.d.intern(ma, mb)
		if minSimilarity > 0 {
			// Skip the diff when even keeping every common token could
			// not make the pair similar enough.
			most := preBytes + sufBytes + w.d.commonBytes(ma)
			if float64(2*most) < minSimilarity*float64(len(a)+len(b)) {
				return nil, false
			}
		}
		for _, o := range w.d.run() {
			switch o.kind {
			case opEqual:
				add(true, len(ma[o.aIndex]), len(ma[o.aIndex]))
			case opDelete:
				add(false, len(ma[o.aIndex]), 0)
			case opInsert:
				add(false, 0, len(mb[o.bIndex]))
			}
		}
	}
	if sufBytes > 0 {
		add(true, sufBytes, sufBytes)
	}
	w.runs = runs
	// Emit the runs, folding a whitespace-only equal run between two
	// changes into them: the pending change then spans both changes and
	// the whitespace, still one range of a and one of b.
	segs := w.segs[:0]
	pending := false
	var aLo, aHi, bLo, bHi int
	flush := func() {
		if !pending {
			return
		}
		if aHi > aLo {
			segs = append(segs, Segment{Kind: KindDelete, Text: a[aLo:aHi]})
		}
		if bHi > bLo {
			segs = append(segs, Segment{Kind: KindInsert, Text: b[bLo:bHi]})
		}
		pending = false
	}
	for i, r := range runs {
		between := i > 0 && i < len(runs)-1
		if r.equal && !(between && strings.TrimSpace(a[r.aLo:r.aHi]) == "") {
			flush()
			segs = append(segs, Segment{Kind: KindEqual, Text: a[r.aLo:r.aHi]})
			continue
		}
		if !pending {
			pending, aLo, bLo = true, r.aLo, r.bLo
		}
		aHi, bHi = r.aHi, r.bHi
	}
	flush()
	w.segs = segs
	if minSimilarity > 0 && similarity(segs, len(a)+len(b)) < minSimilarity {
		return nil, false
	}
	return segs, true
}

// tokenBytes returns the length of the text of toks.
func tokenBytes(toks []string) int {
	n := 0
	for _, t := range toks {
		n += len(t)
	}
	return n
}

// tokenize appends to toks the tokens of s: words (letters and digits),
// whitespace runs and single other characters.
func tokenize(toks []string, s string) []string {
	for i := 0; i < len(s); {
		j := tokenEnd(s, i)
		toks = append(toks, s[i:j])
		i = j
	}
	return toks
}

// tokenClass is the kind of token a rune belongs to.
type tokenClass uint8

const (
	classOther tokenClass = iota // a token of its own
	classWord
	classSpace
)

func classOf(r rune) tokenClass {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '_':
			return classWord
		case r == ' ', '\t' <= r && r <= '\r':
			return classSpace
		}
		return classOther
	}
	switch {
	case isWord(r):
		return classWord
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// tokenEnd returns the end of the token of s starting at i < len(s).
func tokenEnd(s string, i int) int {
	r, size := utf8.DecodeRuneInString(s[i:])
	class := classOf(r)
	j := i + size
	if class == classOther {
		return j
	}
	for j < len(s) {
		r, n := utf8.DecodeRuneInString(s[j:])
		if classOf(r) != class {
			break
		}
		j += n
	}
	return j
}

// tokenStart returns the start of the token of s ending at j > 0; s must be
// valid UTF-8.
func tokenStart(s string, j int) int {
	r, size := utf8.DecodeLastRuneInString(s[:j])
	class := classOf(r)
	i := j - size
	if class == classOther {
		return i
	}
	for i > 0 {
		r, n := utf8.DecodeLastRuneInString(s[:i])
		if classOf(r) != class {
			break
		}
		i -= n
	}
	return i
}

func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// Tags compares two tag lists: added holds the tags of b missing from a,
// removed the tags of a missing from b, each in its list's order without
// duplicates. Both are nil when nothing changed.
func Tags(a, b []string) (added, removed []string) {
	inA := make(map[string]bool, len(a))
	for _, t := range a {
		inA[t] = true
	}
	inB := make(map[string]bool, len(b))
	for _, t := range b {
		if !inA[t] && !inB[t] {
			added = append(added, t)
		}
		inB[t] = true
	}
	seen := make(map[string]bool, len(a))
	for _, t := range a {
		if !inB[t] && !seen[t] {
			removed = append(removed, t)
		}
		seen[t] = true
	}
	return added, removed
}
