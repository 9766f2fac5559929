// Package commands holds Palimpsest's write side: one file per use case, each
// loading a stream, letting a domain aggregate decide, and appending the
// decided events at the loaded version (DESIGN.md §1). Aggregates are kept in
// a bounded in-process cache keyed by stream and version, so loading stays
// cheap however long a stream grows. The cache is never trusted on its own:
// a load reads the events appended since the cached version, and a post
// command that skips that read appends at exactly the cached version, which
// the store refuses if anything was appended since (then the command is
// decided again on the caught-up post; see execPost).
package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// DefaultCacheSize is the number of aggregates of each kind (posts, users)
// kept in memory when Config.CacheSize is 0.
const DefaultCacheSize = 10_000

// DefaultCacheBytes bounds the posts kept in memory (see postBytes) when
// Config.CacheBytes is 0.
const DefaultCacheBytes = 128 << 20

// Config configures a Handler.
type Config struct {
	// Store is the event store. Required.
	Store eventstore.Store
	// Hasher hashes and verifies passwords; nil means
	// NewArgon2idHasher(DefaultArgon2Params()).
	Hasher PasswordHasher
	// Now returns the current time; nil means time.Now. Times are stored in
	// UTC with microsecond precision.
	Now func() time.Time
	// CacheSize bounds the aggregates of each kind kept in memory (least
	// recently used ones are evicted); 0 means DefaultCacheSize, a negative
	// value disables the cache.
	CacheSize int
	// CacheBytes bounds the memory of the cached posts, which keep the
	// content of every revision (least recently used ones are evicted);
	// 0 means DefaultCacheBytes, a negative value lifts the bound.
	CacheBytes int64
	// Media configures the media commands (media_config.go); its zero value
	// makes them fail with KindUnavailable "media_unavailable".
	Media MediaConfig
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	if c.Store == nil {
		return errors.New("commands config: Store is required")
	}
	return nil
}

// Handler executes commands. It is safe for concurrent use; several Handlers
// (in one or many processes) may work on the same store.
type Handler struct {
	store  eventstore.Store
	hasher PasswordHasher
	clock  func() time.Time
	posts  *cache[*domain.Post]
	users  *cache[*domain.User]

	dummyOnce sync.Once
	dummyHash string

	media *mediaDeps
}

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new commands handler: %w", err)
	}
	h := &Handler{store: cfg.Store, hasher: cfg.Hasher, clock: cfg.Now}
	if h.hasher == nil {
		h.hasher = NewArgon2idHasher(DefaultArgon2Params())
	}
	if h.clock == nil {
		h.clock = time.Now
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	maxBytes := cfg.CacheBytes
	if maxBytes == 0 {
		maxBytes = DefaultCacheBytes
	}
	h.posts = newCache[*domain.Post](size).withByteBudget(maxBytes, postBytes)
	h.users = newCache[*domain.User](size)
	var err error
	if h.media, err = newMediaDeps(cfg.Media); err != nil {
		return nil, fmt.Errorf("new commands handler: %w", err)
	}
	return h, nil
}

func (h *Handler) now() time.Time { return h.clock().UTC().Truncate(time.Microsecond) }

// Meta is the request context of a command; it goes into every event's metadata.
type Meta struct {
	Actor         domain.Actor
	CorrelationID string
	CausationID   string
}

// Result reports the outcome of a command.
type Result struct {
	// ID is the post or user the command addressed or created.
	ID string
	// Slug is the post's slug after the command (posts only).
	Slug string
	// Version is the stream version after the command (the ETag).
	Version uint64
	// Revision is the post's revision after the command (posts only).
	Revision int
	// Position is the global log position of the command's last event, for
	// read-your-writes (X-Min-Position). Zero when nothing was appended.
	Position eventstore.Position
	// Changed is false when the command was an idempotent no-op.
	Changed bool
}

// EncodeEvents turns events decided by an aggregate into EventData to append,
// with fresh IDs and the metadata every command writes (actor, role,
// correlation and causation IDs, occurred_at from the change, schema). Bulk
// loaders that append aggregates' changes directly use it to write exactly
// what commands write.
func EncodeEvents(m Meta, changes []domain.EventAt) ([]eventstore.EventData, error) {
	return encode(m, changes)
}

// encode implements EncodeEvents.
func encode(m Meta, changes []domain.EventAt) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, 0, len(changes))
	for _, c := range changes {
		data, schema, err := domain.EncodeEvent(c.Event)
		if err != nil {
			return nil, err
		}
		md, err := json.Marshal(domain.Metadata{
			ActorID:       m.Actor.ID,
			ActorRole:     m.Actor.Role,
			CorrelationID: m.CorrelationID,
			CausationID:   m.CausationID,
			OccurredAt:    c.OccurredAt,
			Schema:        schema,
		})
		if err != nil {
			return nil, fmt.Errorf("encode metadata: %w", err)
		}
		out = append(out, eventstore.EventData{ID: uuid.New(), Type: c.Event.EventType(), Data: data, Metadata: md})
	}
	return out, nil
}

// appendChanges stores changes on stream at exactly version.
func (h *Handler) appendChanges(ctx context.Context, m Meta, stream string, version uint64, changes []domain.EventAt) (eventstore.AppendResult, error) {
	events, err := encode(m, changes)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	res, err := h.store.Append(ctx, stream, eventstore.Exact(version), events...)
	if err != nil {
		return res, appendError(stream, err)
	}
	return res, nil
}

// appendError maps a store append failure to a *domain.Error where one applies.
func appendError(stream string, err error) error {
	var wev *eventstore.WrongExpectedVersionError
	switch {
	case errors.As(err, &wev):
		e := domain.Wrap(err, domain.KindConflict, "version_conflict", "the resource was changed by someone else; reload and retry")
		if wev.ActualKnown {
			e.Detail = map[string]any{"current_version": wev.Actual}
		}
		return e
	case errors.Is(err, eventstore.ErrWrongExpectedVersion):
		return domain.Wrap(err, domain.KindConflict, "version_conflict", "the resource was changed by someone else; reload and retry")
	case errors.Is(err, eventstore.ErrEventTooLarge):
		return domain.Wrap(err, domain.KindTooLarge, "event_too_large", "the change is too large to store")
	case errors.Is(err, eventstore.ErrClosed):
		return domain.Wrap(err, domain.KindUnavailable, "store_closed", "the event store is closed")
	}
	return fmt.Errorf("append to %s: %w", stream, err)
}

// versionConflict is the error for a stale expected version.
func versionConflict(current uint64) error {
	e := domain.Errorf(domain.KindConflict, "version_conflict", "the resource is at version %d; reload and retry", current)
	e.Detail = map[string]any{"current_version": current}
	return e
}

// newID returns a fresh, time-ordered UUID string for a post or user.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// parseID canonicalizes a post or user ID; anything but a UUID is unknown.
func parseID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}
