package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/projections"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// ProjectionStatusSource reports the projections' progress (the projection
// runtime satisfies it; ProjectionStatusFunc adapts a function).
type ProjectionStatusSource interface {
	Status(ctx context.Context) ([]projections.ProjectionStatus, error)
}

// ProjectionStatusFunc adapts a function to ProjectionStatusSource, e.g.
// func(ctx) { return projections.Status(ctx, pool, store, names...) }.
type ProjectionStatusFunc func(ctx context.Context) ([]projections.ProjectionStatus, error)

// Status implements ProjectionStatusSource.
func (f ProjectionStatusFunc) Status(ctx context.Context) ([]projections.ProjectionStatus, error) {
	return f(ctx)
}

// rawEvent is a stored event as auditors see it, with secrets redacted.
type rawEvent struct {
	ID         string          `json:"id"`
	StreamID   string          `json:"stream_id,omitempty"`
	Type       string          `json:"type"`
	Version    uint64          `json:"version"`
	Position   uint64          `json:"position"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
	Metadata   json.RawMessage `json:"metadata"`
}

// secretFields are payload fields never shown, even to auditors.
var secretFields = []string{"password_hash", "password"}

// redact replaces secret top-level fields of a JSON object.
func redact(data []byte) json.RawMessage {
	if len(data) == 0 {
		return json.RawMessage("null")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return json.RawMessage(data)
	}
	changed := false
	for _, f := range secretFields {
		if _, ok := m[f]; ok {
			m[f] = json.RawMessage(`"[redacted]"`)
			changed = true
		}
	}
	if !changed {
		return json.RawMessage(data)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return out
}

// postEvents returns the post's raw events from the store (GET
// /api/v1/posts/{id}/events; auditor, admin).
func (s *Server) postEvents(c *gin.Context) {
	id, err := postID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	evs, err := s.cfg.Commands.PostEvents(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]rawEvent, 0, len(evs))
	for _, e := range evs {
		md, err := json.Marshal(e.Metadata)
		if err != nil {
			s.fail(c, err)
			return
		}
		items = append(items, rawEvent{ID: e.ID, StreamID: "post-" + id, Type: e.Type, Version: e.Version, Position: uint64(e.Position),
			RecordedAt: e.RecordedAt.UTC(), Data: redact(e.Data), Metadata: md})
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

// listAudit lists every event in the system, newest first (GET /api/v1/audit; auditor, admin).
func (s *Server) listAudit(c *gin.Context) {
	limit, err := queryLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	since, err := queryTime(c, "since")
	if err != nil {
		s.fail(c, err)
		return
	}
	until, err := queryTime(c, "until")
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.waitMinPosition(c, s.cfg.ReadModels.Audit); err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.cfg.Reader.ListAudit(c.Request.Context(), queries.AuditFilter{Actor: c.Query("actor"), Type: c.Query("type"),
		Stream: c.Query("stream"), Since: since, Until: until, Limit: limit, Cursor: c.Query("cursor")})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

// eventsPage answers GET /api/v1/events. NextAfter is the position to pass
// as ?after= for the next page; null when the page was not full.
type eventsPage struct {
	Items     []rawEvent `json:"items"`
	NextAfter *uint64    `json:"next_after"`
}

// Global log page sizes.
const (
	defaultEventsLimit = 100
	maxEventsLimit     = 1000
)

// listEvents returns the global log in order from the store (GET /api/v1/events; auditor, admin).
func (s *Server) listEvents(c *gin.Context) {
	var after eventstore.Position
	if v := c.Query("after"); v != "" {
		p, err := eventstore.ParsePosition(v)
		if err != nil {
			s.fail(c, domain.Invalid("invalid_position", "after must be a log position", map[string][]string{"after": {"must be a non-negative integer"}}))
			return
		}
		after = p
	}
	limit, _, err := queryInt(c, "limit")
	if err != nil {
		s.fail(c, err)
		return
	}
	if limit == 0 {
		limit = defaultEventsLimit
	}
	limit = min(limit, maxEventsLimit)
	evs, err := s.cfg.Store.ReadAll(c.Request.Context(), eventstore.ReadAllOptions{After: after, Limit: limit})
	if err != nil {
		s.fail(c, err)
		return
	}
	page := eventsPage{Items: make([]rawEvent, 0, len(evs))}
	for _, e := range evs {
		md := json.RawMessage(e.Metadata)
		if len(md) == 0 {
			md = json.RawMessage("null")
		}
		page.Items = append(page.Items, rawEvent{ID: e.ID.String(), StreamID: e.StreamID, Type: e.Type, Version: e.Version,
			Position: uint64(e.Position), RecordedAt: e.RecordedAt.UTC(), Data: redact(e.Data), Metadata: md})
	}
	if len(evs) == limit {
		p := uint64(evs[len(evs)-1].Position)
		page.NextAfter = &p
	}
	c.JSON(http.StatusOK, page)
}

// listProjections reports each projection's progress (GET /api/v1/projections; admin, auditor).
func (s *Server) listProjections(c *gin.Context) {
	st, err := s.cfg.Projections.Status(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	if st == nil {
		st = []projections.ProjectionStatus{}
	}
	c.JSON(http.StatusOK, gin.H{"items": st})
}

// healthz reports liveness: the process serves HTTP.
func (s *Server) healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz reports readiness: the event store answers, the database answers
// and no projection is failed or stopped.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ready := true
	if _, err := s.cfg.Store.Head(ctx); err != nil {
		checks["event_store"], ready = "unavailable", false
	} else {
		checks["event_store"] = "ok"
	}
	if err := s.auth.Ping(ctx); err != nil {
		checks["database"], ready = "unavailable", false
	} else {
		checks["database"] = "ok"
	}
	st, err := s.cfg.Projections.Status(ctx)
	switch {
	case err != nil:
		checks["projections"], ready = "unavailable", false
	default:
		checks["projections"] = "ok"
		for _, p := range st {
			if p.State == projections.StateFailed || p.State == projections.StateStopped {
				checks["projections"], ready = p.Name+" "+p.State, false
				break
			}
		}
	}
	c.Header("Cache-Control", "no-store")
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
		c.Header("Retry-After", strconv.Itoa(1))
	}
	c.JSON(status, gin.H{"ready": ready, "checks": checks})
}
