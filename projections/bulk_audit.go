package projections

// BulkTables implements BulkLoader.
func (*Audit) BulkTables() []BulkTable {
	return []BulkTable{{Name: "audit_log", Columns: []string{"position", "event_id", "stream_id", "stream_version", "type",
		"actor_id", "actor_role", "correlation_id", "causation_id", "at", "recorded_at"}}}
}

// NewBulkLoad implements BulkLoader: one audit_log row per event, as Apply
// writes it. Positions are unique and increase along the log, so no row is
// ever a duplicate.
func (*Audit) NewBulkLoad() BulkLoad { return auditLoad{} }

type auditLoad struct{}

func (auditLoad) Add(ev Event, w *BulkWriter) error {
	m := ev.Metadata
	w.Row(0).Int64(int64(ev.Position)).UUID(ev.ID).Text(ev.StreamID).Int64(int64(ev.Version)).Text(ev.Type).
		Text(m.ActorID).Text(string(m.ActorRole)).Text(m.CorrelationID).Text(m.CausationID).
		Time(ev.OccurredAt()).Time(auditRecordedAt(ev))
	return nil
}

func (auditLoad) Finish() []string { return nil }
