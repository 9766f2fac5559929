package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditName is the audit log projection's versioned name.
//
// WARNING: the name is the projection's checkpoint key. Change the tables or
// semantics only under a new name (audit_v2) and rebuild.
const AuditName = "audit_v1"

// Audit projects every event of every stream (posts, users, reservations,
// media and whatever comes later, including types this build does not know)
// into audit_log: envelope and metadata only, never the payload, so no
// password hash or other secret can reach it. Inside a batch (see Batcher)
// rows are buffered and written by FlushBatch in one statement.
type Audit struct {
	open batches[auditRows]
}

// auditRows holds buffered audit_log rows column by column.
type auditRows struct {
	positions, versions                                               []int64
	eventIDs, streams, types, actors, roles, correlations, causations []string
	ats, recorded                                                     []time.Time
}

// NewAudit returns the audit log projection.
func NewAudit() *Audit { return &Audit{} }

// Name implements Projection.
func (*Audit) Name() string { return AuditName }

// Tables implements Projection.
func (*Audit) Tables() []string { return []string{"audit_log"} }

// StreamPrefixes implements Projection: nil reads every stream.
func (*Audit) StreamPrefixes() []string { return nil }

const sqlAudit = `INSERT INTO audit_log (position, event_id, stream_id, stream_version, type, actor_id,
	actor_role, correlation_id, causation_id, at, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (position) DO NOTHING`

const sqlAuditBulk = `INSERT INTO audit_log (position, event_id, stream_id, stream_version, type, actor_id,
	actor_role, correlation_id, causation_id, at, recorded_at)
SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
	$8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[])
ON CONFLICT (position) DO NOTHING`

// Apply implements Projection.
func (a *Audit) Apply(ctx context.Context, tx pgx.Tx, ev Event) error {
	m := ev.Metadata
	recorded := auditRecordedAt(ev)
	if b := a.open.open(tx, ev); b != nil {
		b.positions, b.versions = append(b.positions, int64(ev.Position)), append(b.versions, int64(ev.Version))
		b.eventIDs, b.streams, b.types = append(b.eventIDs, ev.ID.String()), append(b.streams, ev.StreamID), append(b.types, ev.Type)
		b.actors, b.roles = append(b.actors, m.ActorID), append(b.roles, string(m.ActorRole))
		b.correlations, b.causations = append(b.correlations, m.CorrelationID), append(b.causations, m.CausationID)
		b.ats, b.recorded = append(b.ats, ev.OccurredAt()), append(b.recorded, recorded)
		return nil
	}
	if _, err := tx.Exec(ctx, sqlAudit, int64(ev.Position), ev.ID, ev.StreamID, int64(ev.Version), ev.Type,
		m.ActorID, string(m.ActorRole), m.CorrelationID, m.CausationID, ev.OccurredAt(), recorded); err != nil {
		return fmt.Errorf("audit projection: apply %s at %d: %w", ev.Type, ev.Position, err)
	}
	return nil
}

// BeginBatch implements Batcher.
func (a *Audit) BeginBatch(_ context.Context, tx pgx.Tx) error {
	a.open.begin(tx)
	return nil
}

// FlushBatch implements Batcher: one INSERT for the whole batch.
func (a *Audit) FlushBatch(ctx context.Context, tx pgx.Tx) error {
	b := a.open.end(tx)
	if b == nil || len(b.positions) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, sqlAuditBulk, b.positions, b.eventIDs, b.streams, b.versions, b.types, b.actors, b.roles,
		b.correlations, b.causations, b.ats, b.recorded); err != nil {
		return fmt.Errorf("audit projection: write %d rows: %w", len(b.positions), err)
	}
	return nil
}

// auditRecordedAt is when the store recorded ev, defaulting to when it
// happened.
func auditRecordedAt(ev Event) time.Time {
	if ev.RecordedAt.IsZero() {
		return ev.OccurredAt()
	}
	return ev.RecordedAt.UTC()
}
