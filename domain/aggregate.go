package domain

import "time"

// EventAt is a domain event with the time it occurred. Aggregates fold
// history given as EventAt values, and decision methods record new ones: the
// caller stores Event as the payload and OccurredAt in the event's metadata.
type EventAt struct {
	Event      Event
	OccurredAt time.Time
}

// changeLog holds the events an aggregate decided but that are not stored yet.
type changeLog struct {
	changes []EventAt
}

// Changes returns the events decided since the aggregate was loaded or since
// ClearChanges, in order. The aggregate's state already includes them.
func (c *changeLog) Changes() []EventAt { return c.changes }

// ClearChanges forgets the pending events, typically after they were stored.
func (c *changeLog) ClearChanges() { c.changes = nil }

// forbidden returns a KindForbidden error with code "forbidden_role".
func forbidden(format string, args ...any) error {
	return Errorf(KindForbidden, "forbidden_role", format, args...)
}

// invalidTransition returns a KindConflict error with code "invalid_transition".
func invalidTransition(format string, args ...any) error {
	return Errorf(KindConflict, "invalid_transition", format, args...)
}

// noChanges returns a KindInvalid error with code "no_changes".
func noChanges(format string, args ...any) error {
	return Errorf(KindInvalid, "no_changes", format, args...)
}
