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
			segs := Words(del.Text, ins.Text)
			if similarity(segs, len(del.Text)+len(ins.Text)) < minSimilarity {
				continue
			}
			for _, s := range segs {
				if s.Kind != KindInsert {
					del.Segments = append(del.Segments, s)
				}
				if s.Kind != KindDelete {
					ins.Segments = append(ins.Segments, s)
				}
			}
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
	if a == b {
		if a == "" {
			return nil
		}
		return []Segment{{Kind: KindEqual, Text: a}}
	}
	ta, tb := tokenize(a), tokenize(b)
	ops := diffTokens(ta, tb)

	// Group the script into alternating equal runs and change runs.
	type run struct {
		equal    bool
		del, ins strings.Builder
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
	for _, o := range ops {
		switch o.kind {
		case opEqual:
			cur(true).del.WriteString(ta[o.aIndex])
		case opDelete:
			cur(false).del.WriteString(ta[o.aIndex])
		case opInsert:
			cur(false).ins.WriteString(tb[o.bIndex])
		}
	}

	var segs []Segment
	var del, ins strings.Builder
	flush := func() {
		if del.Len() > 0 {
			segs = append(segs, Segment{Kind: KindDelete, Text: del.String()})
			del.Reset()
		}
		if ins.Len() > 0 {
			segs = append(segs, Segment{Kind: KindInsert, Text: ins.String()})
			ins.Reset()
		}
	}
	for i, r := range runs {
		if !r.equal {
			del.WriteString(r.del.String())
			ins.WriteString(r.ins.String())
			continue
		}
		text := r.del.String()
		between := i > 0 && i < len(runs)-1
		if between && strings.TrimSpace(text) == "" {
			del.WriteString(text)
			ins.WriteString(text)
			continue
		}
		flush()
		segs = append(segs, Segment{Kind: KindEqual, Text: text})
	}
	flush()
	return segs
}

// tokenize splits s into words (letters and digits), whitespace runs and
// single other characters.
func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		j := i + size
		switch {
		case isWord(r):
			for j < len(s) {
				r2, n := utf8.DecodeRuneInString(s[j:])
				if !isWord(r2) {
					break
				}
				j += n
			}
		case unicode.IsSpace(r):
			for j < len(s) {
				r2, n := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsSpace(r2) {
					break
				}
				j += n
			}
		}
		toks = append(toks, s[i:j])
		i = j
	}
	return toks
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
