package eventstore

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DefaultMaxEventBytes is the default limit on one event's data plus metadata.
const DefaultMaxEventBytes = 1 << 20

// MaxStreamNameBytes is the longest stream name accepted.
const MaxStreamNameBytes = 200

// MaxEventTypeBytes is the longest event type accepted.
const MaxEventTypeBytes = 100

// Options are settings common to every Store implementation.
type Options struct {
	// MaxEventBytes limits len(Data)+len(Metadata) of one event; 0 means
	// DefaultMaxEventBytes.
	MaxEventBytes int
}

// Limit returns the effective per-event byte limit.
func (o Options) Limit() int {
	if o.MaxEventBytes <= 0 {
		return DefaultMaxEventBytes
	}
	return o.MaxEventBytes
}

// ValidateStreamName checks that name is 1..MaxStreamNameBytes of printable
// ASCII without spaces and does not start with '$' (reserved for system streams).
func ValidateStreamName(name string) error {
	if name == "" || len(name) > MaxStreamNameBytes {
		return fmt.Errorf("%w: %q must be 1..%d bytes", ErrInvalidStreamName, truncate(name), MaxStreamNameBytes)
	}
	if name[0] == '$' {
		return fmt.Errorf("%w: %q: names starting with '$' are reserved", ErrInvalidStreamName, truncate(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: %q: only printable ASCII without spaces", ErrInvalidStreamName, truncate(name))
		}
	}
	return nil
}

// ValidateEvents checks a batch before it is appended: at least one event,
// IDs set and distinct, types valid, data and metadata valid JSON (or empty)
// and within the byte limit. Every store calls it before writing anything.
func ValidateEvents(events []EventData, opts Options) error {
	if len(events) == 0 {
		return fmt.Errorf("%w: no events to append", ErrInvalidEvent)
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		if e.ID == uuid.Nil {
			return fmt.Errorf("%w: event %d has no ID", ErrInvalidEvent, i)
		}
		if _, dup := seen[e.ID]; dup {
			return fmt.Errorf("%w: event ID %s appears twice in one append", ErrInvalidEvent, e.ID)
		}
		seen[e.ID] = struct{}{}
		if e.Type == "" || len(e.Type) > MaxEventTypeBytes || !utf8.ValidString(e.Type) {
			return fmt.Errorf("%w: event %d: type must be 1..%d bytes of UTF-8", ErrInvalidEvent, i, MaxEventTypeBytes)
		}
		if n := len(e.Data) + len(e.Metadata); n > opts.Limit() {
			return fmt.Errorf("%w: event %d is %d bytes, limit %d", ErrEventTooLarge, i, n, opts.Limit())
		}
		if len(e.Data) > 0 && !json.Valid(e.Data) {
			return fmt.Errorf("%w: event %d: data is not valid JSON", ErrInvalidEvent, i)
		}
		if len(e.Metadata) > 0 && !json.Valid(e.Metadata) {
			return fmt.Errorf("%w: event %d: metadata is not valid JSON", ErrInvalidEvent, i)
		}
	}
	return nil
}

// MatchesPrefix reports whether stream starts with one of prefixes (true when
// prefixes is empty).
func MatchesPrefix(stream string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if len(stream) >= len(p) && stream[:len(p)] == p {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
