// Package eventstore defines Palimpsest's event store contract: append with
// optimistic concurrency to named streams, read streams and the global log,
// and subscribe to the global log from a position. It is implemented by
// eventstore/memory, eventstore/postgres and eventstore/esdb, all proven by
// the one conformance suite in eventstore/eventstoretest.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Position is an event's place in the global log. Positions are strictly
// increasing in log order and always > 0; they are not necessarily dense
// (EventStoreDB's are byte offsets). Position 0 means "before the first event".
type Position uint64

// String formats p as a decimal number.
func (p Position) String() string { return strconv.FormatUint(uint64(p), 10) }

// ParsePosition parses a decimal position.
func ParsePosition(s string) (Position, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse position %q: %w", s, err)
	}
	return Position(n), nil
}

// ExpectedVersion states what the appender believes about a stream.
// Versions count events: version n means the stream holds n events (the last
// one has Version n); 0 means the stream does not exist.
type ExpectedVersion struct {
	kind    expectKind
	version uint64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// Expected-version values.
var (
	// Any appends regardless of the stream's state.
	Any = ExpectedVersion{kind: expectAny}
	// NoStream appends only if the stream has no events.
	NoStream = ExpectedVersion{kind: expectNoStream}
	// StreamExists appends only if the stream has at least one event.
	StreamExists = ExpectedVersion{kind: expectStreamExists}
)

// Exact appends only if the stream's current version is v. Exact(0) is NoStream.
func Exact(v uint64) ExpectedVersion {
	if v == 0 {
		return NoStream
	}
	return ExpectedVersion{kind: expectExact, version: v}
}

// IsAny reports whether e is Any.
func (e ExpectedVersion) IsAny() bool { return e.kind == expectAny }

// IsNoStream reports whether e is NoStream.
func (e ExpectedVersion) IsNoStream() bool { return e.kind == expectNoStream }

// IsStreamExists reports whether e is StreamExists.
func (e ExpectedVersion) IsStreamExists() bool { return e.kind == expectStreamExists }

// ExactVersion returns the exact version and true when e is Exact(v>0).
func (e ExpectedVersion) ExactVersion() (uint64, bool) {
	return e.version, e.kind == expectExact
}

// Matches reports whether a stream currently at version current satisfies e.
func (e ExpectedVersion) Matches(current uint64) bool {
	switch e.kind {
	case expectAny:
		return true
	case expectNoStream:
		return current == 0
	case expectStreamExists:
		return current > 0
	default:
		return current == e.version
	}
}

// String describes e for error messages.
func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectAny:
		return "any"
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	default:
		return strconv.FormatUint(e.version, 10)
	}
}

// EventData is an event to append. ID must be set (not uuid.Nil): appending
// the same IDs again is idempotent. Data and Metadata are JSON documents.
type EventData struct {
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata []byte
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	ID         uuid.UUID
	StreamID   string
	Version    uint64   // 1-based position within its stream
	Position   Position // place in the global log
	Type       string
	Data       []byte
	Metadata   []byte
	RecordedAt time.Time // when the store accepted it, UTC
}

// AppendResult reports where an append landed. For an idempotent re-append
// it reports the original events' last version and position.
type AppendResult struct {
	NextVersion uint64   // stream version after the append (= Version of its last event)
	Position    Position // global position of the last appended event
}

// Direction of a stream read.
type Direction uint8

// Read directions.
const (
	Forwards Direction = iota
	Backwards
)

// ReadStreamOptions selects a slice of a stream.
type ReadStreamOptions struct {
	Direction Direction
	// From is the first version to return (inclusive). 0 means the start for
	// Forwards and the end for Backwards.
	From uint64
	// Limit caps the number of events returned; 0 means no limit.
	Limit int
}

// ReadAllOptions selects a slice of the global log.
type ReadAllOptions struct {
	// After returns events strictly after this position (0 = from the start).
	After Position
	// Limit caps the number of events returned; 0 means a store default (1000).
	Limit int
	// StreamPrefixes, when set, returns only events of streams whose names
	// start with one of them.
	StreamPrefixes []string
}

// SubscribeOptions configures a subscription to the global log.
type SubscribeOptions struct {
	// After delivers events strictly after this position (0 = from the start).
	After Position
	// StreamPrefixes, when set, delivers only events of streams whose names
	// start with one of them.
	StreamPrefixes []string
	// Buffer is the channel capacity; 0 means a store default.
	Buffer int
}

// Subscription delivers events of the global log in position order: first
// the stored ones after the start position (catch-up), then new ones as they
// are appended (live), each exactly once, none skipped.
type Subscription interface {
	// Events yields events in strictly increasing position order. The channel
	// is closed when the subscription ends; Err then tells why.
	Events() <-chan RecordedEvent
	// Err returns why the subscription ended: nil after Close, the context's
	// error after cancellation, ErrClosed when the store closed, or a failure.
	Err() error
	// Close ends the subscription and waits for its goroutines to stop.
	Close() error
}

// Store is the event store contract.
type Store interface {
	// Append writes events to stream atomically, all or none, if the stream
	// satisfies expected. A mismatch fails with an error matching
	// ErrWrongExpectedVersion. Re-appending events whose IDs are already the
	// stream's events at that place succeeds without writing duplicates.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)
	// ReadStream returns events of one stream. A stream without events fails
	// with ErrStreamNotFound.
	ReadStream(ctx context.Context, stream string, opts ReadStreamOptions) ([]RecordedEvent, error)
	// ReadAll returns events of the global log in position order.
	ReadAll(ctx context.Context, opts ReadAllOptions) ([]RecordedEvent, error)
	// SubscribeAll subscribes to the global log. The subscription ends when
	// ctx is cancelled, Close is called, or the store closes.
	SubscribeAll(ctx context.Context, opts SubscribeOptions) (Subscription, error)
	// Head returns the position of the last event in the global log (0 when empty).
	Head(ctx context.Context) (Position, error)
	// Close releases the store's resources; later calls fail with ErrClosed.
	Close() error
}

// Sentinel errors. Match them with errors.Is.
var (
	ErrWrongExpectedVersion = errors.New("eventstore: wrong expected version")
	ErrStreamNotFound       = errors.New("eventstore: stream not found")
	ErrInvalidStreamName    = errors.New("eventstore: invalid stream name")
	ErrInvalidEvent         = errors.New("eventstore: invalid event")
	ErrEventTooLarge        = errors.New("eventstore: event too large")
	ErrClosed               = errors.New("eventstore: store closed")
)

// WrongExpectedVersionError details a failed optimistic-concurrency check.
// errors.Is(err, ErrWrongExpectedVersion) is true for it.
type WrongExpectedVersionError struct {
	Stream   string
	Expected ExpectedVersion
	// Actual is the stream's version when the append was refused (0 = no
	// stream). ActualKnown is false when the store did not report it.
	Actual      uint64
	ActualKnown bool
}

// Error implements error.
func (e *WrongExpectedVersionError) Error() string {
	if e.ActualKnown {
		return fmt.Sprintf("eventstore: wrong expected version on %q: expected %s, actual %d", e.Stream, e.Expected, e.Actual)
	}
	return fmt.Sprintf("eventstore: wrong expected version on %q: expected %s", e.Stream, e.Expected)
}

// Is makes errors.Is(err, ErrWrongExpectedVersion) true.
func (e *WrongExpectedVersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }
