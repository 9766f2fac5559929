package projections

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// rebuildDecoder decodes log records into Events for a rebuild, exactly as
// logEntry.event does, but with a fast path for the shapes encoding/json
// writes: the metadata envelope and the PostDrafted, PostEdited and
// PostReverted payloads that make up nearly all of a content log. Those
// are compact objects whose keys are the fields' exact names, each once,
// with plain strings, integers and string arrays; for them the generic
// decoders (reflection, case-insensitive key lookup, escape handling in
// several passes, slices grown byte by byte) cost most of a rebuild's Go
// CPU. Anything else — whitespace, another key spelling, a repeated key,
// null for a time, a lone surrogate, invalid UTF-8, an unknown schema version, any
// other event type — goes to logEntry, so the result (and every error) is
// the generic one. TestRebuildDecodeMatchesGeneric and
// FuzzRebuildDecodeMatchesGeneric check the equivalence.
//
// A rebuildDecoder is used by one goroutine at a time.
type rebuildDecoder struct {
	buf []byte // unescaping scratch
}

// event returns newLogEntry(rec).event(payload).
func (d *rebuildDecoder) event(rec eventstore.RecordedEvent, payload bool) (Event, error) {
	ev := Event{
		ID: rec.ID, StreamID: rec.StreamID, Version: rec.Version, Position: rec.Position,
		Type: rec.Type, RecordedAt: rec.RecordedAt, Data: json.RawMessage(rec.Data),
	}
	var ok bool
	if ev.Metadata, ok = d.metadata(rec.Metadata); !ok {
		return newLogEntry(rec).event(payload)
	}
	if !payload {
		return ev, nil
	}
	if ev.Payload, ok = d.payload(rec.Type, ev.Metadata.Schema, rec.Data); !ok {
		// The generic payload decoder, with the metadata decoded above
		// (what logEntry.metadata would decode: not again).
		e := newLogEntry(rec)
		e.metaOnce.Do(func() { e.meta = ev.Metadata })
		return e.event(payload)
	}
	return ev, nil
}

// Field sets of the fast path.
const (
	fActorID = 1 << iota
	fActorRole
	fCorrelationID
	fCausationID
	fOccurredAt
	fSchema
)

// metadata decodes an envelope's metadata as encoding/json does, or
// reports false.
func (d *rebuildDecoder) metadata(b []byte) (m domain.Metadata, ok bool) {
	if len(b) == 0 {
		return m, false // logEntry leaves it zero; keep that path's rule
	}
	s := scanner{b: b, d: d}
	seen := 0
	ok = s.object(func(key []byte) bool {
		var bit int
		switch string(key) {
		case "actor_id":
			bit, m.ActorID = fActorID, s.str()
		case "actor_role":
			bit, m.ActorRole = fActorRole, domain.Role(s.str())
		case "correlation_id":
			bit, m.CorrelationID = fCorrelationID, s.str()
		case "causation_id":
			bit, m.CausationID = fCausationID, s.str()
		case "occurred_at":
			bit = fOccurredAt
			raw := s.rawPlainString()
			if s.ok && m.OccurredAt.UnmarshalJSON(raw) != nil {
				s.ok = false
			}
		case "schema":
			bit, m.Schema = fSchema, s.int()
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return s.ok
	})
	return m, ok
}

// Payload field bits.
const (
	pTitle = 1 << iota
	pBody
	pExcerpt
	pTags
	pRevision
	pNote
	pPostID
	pAuthorID
	pSlug
	pTargetRevision
)

// payload decodes the payload of the event types of the fast path as
// domain.DecodeEvent does, or reports false.
func (d *rebuildDecoder) payload(eventType string, schema int, b []byte) (domain.Event, bool) {
	var allowed int
	switch eventType {
	case domain.EventPostEdited:
		allowed = pTitle | pBody | pExcerpt | pTags | pRevision | pNote
	case domain.EventPostDrafted:
		allowed = pTitle | pBody | pExcerpt | pTags | pRevision | pPostID | pAuthorID | pSlug
	case domain.EventPostReverted:
		allowed = pTitle | pBody | pExcerpt | pTags | pRevision | pNote | pTargetRevision
	default:
		return nil, false
	}
	// Schema 1 is the only one without upcasting (DecodeEvent reads schema
	// <= 0 as 1); anything newer is DecodeEvent's to refuse.
	if schema > 1 || domain.SchemaVersion(eventType) != 1 || len(b) == 0 {
		return nil, false
	}
	var (
		c                            domain.PostContent
		note, postID, authorID, slug string
		rev, target                  int
	)
	s := scanner{b: b, d: d}
	seen := 0
	ok := s.object(func(key []byte) bool {
		var bit int
		switch string(key) {
		case "title":
			bit, c.Title = pTitle, s.str()
		case "body":
			bit, c.Body = pBody, s.str()
		case "excerpt":
			bit, c.Excerpt = pExcerpt, s.str()
		case "tags":
			bit, c.Tags = pTags, s.strs()
		case "revision":
			bit, rev = pRevision, s.int()
		case "note":
			bit, note = pNote, s.str()
		case "post_id":
			bit, postID = pPostID, s.str()
		case "author_id":
			bit, authorID = pAuthorID, s.str()
		case "slug":
			bit, slug = pSlug, s.str()
		case "target_revision":
			bit, target = pTargetRevision, s.int()
		default:
			return false
		}
		if bit&allowed == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
		return s.ok
	})
	if !ok {
		return nil, false
	}
	switch eventType {
	case domain.EventPostEdited:
		return domain.PostEdited{PostContent: c, Note: note, Revision: rev}, true
	case domain.EventPostDrafted:
		return domain.PostDrafted{PostID: postID, AuthorID: authorID, Slug: slug, PostContent: c, Revision: rev}, true
	default:
		return domain.PostReverted{TargetRevision: target, PostContent: c, Note: note, Revision: rev}, true
	}
}

// scanner reads the compact JSON of the fast path. Any input outside it
// clears ok; values read after that are meaningless.
type scanner struct {
	b  []byte
	i  int
	ok bool
	d  *rebuildDecoder
}

// object reads a whole input that is one object, calling field with each
// key (positioned at its value, which field must read).
func (s *scanner) object(field func(key []byte) bool) bool {
	s.ok = true
	if !s.eat('{') {
		return false
	}
	if s.skip('}') {
		return s.i == len(s.b)
	}
	for {
		key := s.rawPlainString()
		if !s.ok || len(key) < 2 || !s.eat(':') {
			return false
		}
		if !field(key[1 : len(key)-1]) {
			return false
		}
		if s.skip(',') {
			continue
		}
		return s.eat('}') && s.i == len(s.b)
	}
}

// null consumes a null literal if it comes next. encoding/json leaves a
// field alone for null (a slice becomes nil): with each key read at most
// once, the field keeps its zero value.
func (s *scanner) null() bool {
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// skip consumes c if it comes next.
func (s *scanner) skip(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// eat consumes c, which must come next.
func (s *scanner) eat(c byte) bool {
	if s.ok && s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	s.ok = false
	return false
}

// rawPlainString returns a string token with its quotes, which must hold
// only printable ASCII without escapes (keys, timestamps).
func (s *scanner) rawPlainString() []byte {
	start := s.i
	if !s.eat('"') {
		return nil
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		s.i++
		switch {
		case c == '"':
			return s.b[start:s.i]
		case c < 0x20 || c == '\\' || c >= 0x80:
			s.ok = false
			return nil
		}
	}
	s.ok = false
	return nil
}

// str reads a string value (or null): valid UTF-8, the usual escapes, \u
// escapes other than surrogates (which encoding/json pairs or replaces).
// Escaped strings are unescaped into the decoder's scratch buffer.
func (s *scanner) str() string {
	if s.null() {
		return ""
	}
	if !s.eat('"') {
		return ""
	}
	start := s.i
	var (
		buf     []byte
		escaped bool
		seen    uint64 // every byte of the raw runs ORed in: their high bits
	)
	for {
		j := s.i
		for j+8 <= len(s.b) {
			v := binary.LittleEndian.Uint64(s.b[j:])
			if hasStop(v) {
				break
			}
			seen |= v
			j += 8
		}
		for j < len(s.b) && !strStop[s.b[j]] {
			seen |= uint64(s.b[j])
			j++
		}
		if j == len(s.b) || s.b[j] < 0x20 {
			s.ok = false
			return ""
		}
		if s.b[j] == '"' {
			out := s.b[start:j]
			if escaped {
				buf = append(buf, s.b[s.i:j]...)
				s.d.buf, out = buf, buf
			}
			s.i = j + 1
			// Escapes write valid UTF-8; the raw bytes must be too, which
			// they are if all are ASCII.
			if seen&0x8080808080808080 != 0 && !utf8.Valid(out) {
				s.ok = false
				return ""
			}
			return string(out)
		}
		// A backslash.
		if !escaped {
			buf, escaped = s.d.buf[:0], true
		}
		buf = append(buf, s.b[s.i:j]...)
		if j+1 >= len(s.b) {
			s.ok = false
			return ""
		}
		e := s.b[j+1]
		s.i = j + 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(s.b[s.i:])
			if !ok || utf8.RuneLen(r) < 0 { // surrogates: the generic path
				s.ok = false
				return ""
			}
			s.i += 4
			buf = utf8.AppendRune(buf, r)
		default:
			s.ok = false
			return ""
		}
	}
}

// hasStop reports whether any of the 8 bytes in v is one of strStop's
// (the usual bit tricks: each term is non-zero exactly when some byte is
// below 0x20, a quote or a backslash).
func hasStop(v uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, bs := v^(ones*'"'), v^(ones*'\\')
	return ((v-ones*0x20)&^v|(q-ones)&^q|(bs-ones)&^bs)&highs != 0
}

// strStop marks the bytes that end a run of plain string content: the
// closing quote, a backslash, and control characters (invalid in JSON).
var strStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// hex4 decodes the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// strs reads an array of strings; [] is an empty, non-nil slice, as
// encoding/json leaves it.
func (s *scanner) strs() []string {
	if s.null() {
		return nil
	}
	if !s.eat('[') {
		return nil
	}
	out := []string{}
	if s.skip(']') {
		return out
	}
	for s.ok {
		out = append(out, s.str())
		if s.skip(',') {
			continue
		}
		s.eat(']')
		break
	}
	return out
}

// int reads an integer in JSON's canonical form (no fraction, no
// exponent), within int's range.
func (s *scanner) int() int {
	if s.null() {
		return 0
	}
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || n > 18 || (n > 1 && s.b[digits] == '0') {
		s.ok = false
		return 0
	}
	if s.i < len(s.b) {
		if c := s.b[s.i]; c == '.' || c == 'e' || c == 'E' {
			s.ok = false
			return 0
		}
	}
	v, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 0)
	if err != nil {
		s.ok = false
		return 0
	}
	return int(v)
}
