// Package projections runs Palimpsest's read-model projectors: a Watermill
// router feeds each Projection the global event log from its checkpoint, in
// batches applied in one PostgreSQL transaction together with the checkpoint.
package projections

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Projection builds read tables from events.
//
// WARNING: Name is stored as the checkpoint key and is the projection's
// identity. Never change what a name means: change the projection's tables or
// semantics under a new versioned name (posts_v1 → posts_v2) and rebuild.
type Projection interface {
	// Name is versioned, e.g. "posts_v1".
	Name() string
	// Tables lists the read tables the projection owns, unqualified. The
	// runtime rebuilds them blue/green: it creates empty copies
	// (CREATE TABLE … (LIKE … INCLUDING ALL)) in a scratch schema, runs the
	// projection there (search_path set to that schema first), and swaps
	// them into public in one transaction. So Apply must use unqualified
	// table names, and tables must not use triggers, serial sequences or
	// foreign keys to tables of other projections.
	Tables() []string
	// StreamPrefixes selects the streams the projection reads; nil reads all.
	StreamPrefixes() []string
	// Apply applies one event inside tx, the batch transaction that also
	// writes the checkpoint. The runtime never hands an event at or below the
	// checkpoint, but Apply must still be idempotent for the same event
	// (e.g. INSERT … ON CONFLICT DO NOTHING keyed by event id/position).
	Apply(ctx context.Context, tx pgx.Tx, ev Event) error
}

// Event is a stored event as projections see it: decoded and upcast payload
// plus the envelope.
type Event struct {
	ID         uuid.UUID
	StreamID   string
	Version    uint64
	Position   eventstore.Position
	Type       string
	RecordedAt time.Time
	Metadata   domain.Metadata
	// Payload is the decoded domain event, or nil for event types this build
	// does not know (Data still holds the raw JSON).
	Payload domain.Event
	Data    json.RawMessage
}

// Decode turns a stored event into an Event. Unknown event types decode with
// a nil Payload (projections that need them fail loudly; others ignore them).
func Decode(rec eventstore.RecordedEvent) (Event, error) {
	return newLogEntry(rec).event(true)
}

// OccurredAt returns when the event happened: the metadata's occurred_at,
// falling back to the store's record time.
func (e Event) OccurredAt() time.Time {
	if !e.Metadata.OccurredAt.IsZero() {
		return e.Metadata.OccurredAt.UTC()
	}
	return e.RecordedAt.UTC()
}
