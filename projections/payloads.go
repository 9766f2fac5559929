package projections

import (
	"strings"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// Need says what a projection's Apply reads of an event (see EventNeeds).
type Need int

const (
	// NeedPayload: Apply reads the decoded payload (Event.Payload).
	NeedPayload Need = iota
	// NeedEnvelope: Apply reads the envelope and metadata only; it is handed
	// the event with a nil Payload (Data still holds the raw JSON).
	NeedEnvelope
	// NeedNothing: Apply would neither read nor write anything for the
	// event, so the runtime does not call it; the checkpoint still moves
	// past the event.
	NeedNothing
)

// EventNeeds is implemented by projections that read only part of the events
// of their streams. The live runtime then decodes a payload only when a
// projection handed the event needs it (each event is decoded at most once
// per process however many projections need it), and skips a batch's
// transaction altogether when no event of it is needed. A payload that fails
// to decode stops exactly the projections that need it.
//
// Projections without the method need the payload of every event of their
// streams (StreamPrefixes).
type EventNeeds interface {
	// Needs reports what Apply reads of an event of eventType in streamID
	// (a stream of the projection's StreamPrefixes). It must answer
	// NeedPayload whenever Apply's behaviour depends on the payload, its Go
	// type included, and NeedNothing only when Apply does nothing at all.
	Needs(streamID, eventType string) Need
}

// needs reports what p reads of an event of eventType in streamID, or
// NeedNothing when the stream is not one of p's.
func needs(p Projection, streamID, eventType string) Need {
	if !eventstore.MatchesPrefix(streamID, p.StreamPrefixes()) {
		return NeedNothing
	}
	if n, ok := p.(EventNeeds); ok {
		return n.Needs(streamID, eventType)
	}
	return NeedPayload
}

// needsPayload reports whether p reads the payload of an event of eventType
// in streamID.
func needsPayload(p Projection, streamID, eventType string) bool {
	return needs(p, streamID, eventType) == NeedPayload
}

// Needs implements EventNeeds: the audit log stores envelopes and metadata
// only, never a payload.
func (*Audit) Needs(string, string) Need { return NeedEnvelope }

// Needs implements EventNeeds: media streams are read whole; of post streams
// only the events that set a post's status or feature image (content edits,
// reverts and slug changes leave media_post_usage alone, see
// Media.applyPost).
func (*Media) Needs(streamID, eventType string) Need {
	if !strings.HasPrefix(streamID, domain.PostStreamPrefix) {
		return NeedPayload
	}
	switch eventType {
	case domain.EventPostEdited, domain.EventPostReverted, domain.EventPostSlugChanged:
		return NeedNothing
	}
	return NeedPayload
}
