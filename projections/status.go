package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Projection states reported by Status.
const (
	// StateRunning: a runner holds leadership and is behind the log head.
	StateRunning = "running"
	// StateIdle: a runner holds leadership and has reached the log head.
	StateIdle = "idle"
	// StateFailed: stopped on an event that kept failing; see LastError.
	StateFailed = "failed"
	// StateStopped: no process runs the projection.
	StateStopped = "stopped"
	// StateRebuilding: a rebuild is swapping fresh tables in.
	StateRebuilding = "rebuilding"
)

// ProjectionStatus describes one projection's progress.
type ProjectionStatus struct {
	Name string `json:"name"`
	// Position is the checkpoint: the last log position taken into account.
	Position eventstore.Position `json:"position"`
	// HeadPosition is the log head when the status was read.
	HeadPosition eventstore.Position `json:"head_position"`
	// LagEvents is HeadPosition - Position: exactly the number of events
	// behind for stores with dense positions (PostgreSQL, memory); for
	// EventStoreDB it is a distance in log bytes, 0 still meaning caught up.
	LagEvents uint64 `json:"lag_events"`
	// LagSeconds is the age of the oldest event after the checkpoint
	// (0 when caught up).
	LagSeconds float64 `json:"lag_seconds"`
	// State is one of the State* constants.
	State string `json:"state"`
	// LastError is why the projection failed.
	LastError string `json:"last_error,omitempty"`
	// FailedPosition is the position of the event it failed on.
	FailedPosition eventstore.Position `json:"failed_position,omitempty"`
	// FailedAt is when it failed.
	FailedAt *time.Time `json:"failed_at,omitempty"`
	// EventsApplied counts events applied since the last rebuild.
	EventsApplied uint64 `json:"events_applied"`
	// RebuiltAt is when it was last rebuilt.
	RebuiltAt *time.Time `json:"rebuilt_at,omitempty"`
	// UpdatedAt is when the checkpoint row last changed.
	UpdatedAt time.Time `json:"updated_at"`
}

// Status reports the projections named (all with a checkpoint row when names
// is empty), in name order. Names without a row are reported as stopped at 0.
func Status(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, names ...string) ([]ProjectionStatus, error) {
	head, err := store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("projection status: read head: %w", err)
	}
	cps, err := readCheckpoints(ctx, pool, names)
	if err != nil {
		return nil, fmt.Errorf("projection status: %w", err)
	}
	byName := map[string]checkpoint{}
	for _, c := range cps {
		byName[c.Name] = c
	}
	if len(names) == 0 {
		for _, c := range cps {
			names = append(names, c.Name)
		}
	}
	leaders, err := heldLeaderships(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("projection status: %w", err)
	}
	now := time.Now()
	out := make([]ProjectionStatus, 0, len(names))
	for _, name := range names {
		c, ok := byName[name]
		if !ok {
			c = checkpoint{Name: name, State: storedRunning}
		}
		s := ProjectionStatus{
			Name: name, Position: c.Position, HeadPosition: head, State: StateRunning,
			LastError: c.LastError, FailedPosition: c.FailedPosition,
			EventsApplied: c.EventsApplied, UpdatedAt: c.UpdatedAt,
		}
		if !c.FailedAt.IsZero() && c.FailedAt.Unix() != 0 {
			t := c.FailedAt
			s.FailedAt = &t
		}
		if !c.RebuiltAt.IsZero() && c.RebuiltAt.Unix() != 0 {
			t := c.RebuiltAt
			s.RebuiltAt = &t
		}
		if head > c.Position {
			s.LagEvents = uint64(head - c.Position)
			next, err := store.ReadAll(ctx, eventstore.ReadAllOptions{After: c.Position, Limit: 1})
			if err != nil {
				return nil, fmt.Errorf("projection status of %s: read next event: %w", name, err)
			}
			if len(next) > 0 {
				s.LagSeconds = max(0, now.Sub(next[0].RecordedAt).Seconds())
			}
		}
		switch {
		case c.State == storedFailed:
			s.State = StateFailed
		case c.State == storedRebuilding:
			s.State = StateRebuilding
		case !leaders[lockKey(name)]:
			s.State = StateStopped
		case s.LagEvents == 0:
			s.State = StateIdle
		}
		out = append(out, s)
	}
	return out, nil
}

// heldLeaderships returns the projection lock keys some session of this
// database currently holds.
func heldLeaderships(ctx context.Context, pool *pgxpool.Pool) (map[int32]bool, error) {
	rows, err := pool.Query(ctx, `SELECT objid::bigint FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::int::oid
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		int64(uint32(leaderLockClass)))
	if err != nil {
		return nil, fmt.Errorf("read leaderships: %w", err)
	}
	defer rows.Close()
	held := map[int32]bool{}
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("read leaderships: %w", err)
		}
		held[int32(uint32(k))] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read leaderships: %w", err)
	}
	return held, nil
}
