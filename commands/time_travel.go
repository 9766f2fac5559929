package commands

import (
	"context"
	"encoding/json"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// StoredEvent is a raw event of a post's stream, for auditors.
type StoredEvent struct {
	ID         string              `json:"id"`
	Type       string              `json:"type"`
	Version    uint64              `json:"version"`
	Position   eventstore.Position `json:"position"`
	RecordedAt time.Time           `json:"recorded_at"`
	Data       json.RawMessage     `json:"data"`
	Metadata   domain.Metadata     `json:"metadata"`
}

// PostAt returns the post as it was: after event number version when
// version > 0, otherwise after the last event that occurred at or before
// asOf. It fails with post_not_found when the post did not exist yet then,
// and with version_not_found when version is beyond the stream's end.
func (h *Handler) PostAt(ctx context.Context, postID string, asOf time.Time, version uint64) (*domain.Post, error) {
	events, err := h.postStream(ctx, postID)
	if err != nil {
		return nil, err
	}
	if version > uint64(len(events)) {
		return nil, domain.Errorf(domain.KindNotFound, "version_not_found", "post %q has %d versions", postID, len(events))
	}
	p := &domain.Post{}
	for _, d := range events {
		if version > 0 && d.rec.Version > version || version == 0 && d.occurredAt().After(asOf) {
			break
		}
		p.Apply(d.event, d.occurredAt())
	}
	if p.Version == 0 {
		return nil, domain.Errorf(domain.KindNotFound, "post_not_found", "post %q did not exist at that time", postID)
	}
	return p, nil
}

// PostEvents returns every raw event of a post's stream, oldest first.
func (h *Handler) PostEvents(ctx context.Context, postID string) ([]StoredEvent, error) {
	events, err := h.postStream(ctx, postID)
	if err != nil {
		return nil, err
	}
	out := make([]StoredEvent, len(events))
	for i, d := range events {
		data := json.RawMessage(d.rec.Data)
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		out[i] = StoredEvent{ID: d.rec.ID.String(), Type: d.rec.Type, Version: d.rec.Version, Position: d.rec.Position,
			RecordedAt: d.rec.RecordedAt, Data: data, Metadata: d.meta}
	}
	return out, nil
}

// postStream reads and decodes a post's whole stream.
func (h *Handler) postStream(ctx context.Context, postID string) ([]decoded, error) {
	id, ok := parseID(postID)
	if !ok {
		return nil, postNotFound(postID)
	}
	events, exists, err := h.readStream(ctx, domain.PostStreamPrefix+id, 0)
	if err != nil {
		return nil, err
	}
	if !exists || len(events) == 0 {
		return nil, postNotFound(postID)
	}
	return events, nil
}
