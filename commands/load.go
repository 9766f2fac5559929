package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// decoded is a stored event with its decoded payload and metadata.
type decoded struct {
	rec   eventstore.RecordedEvent
	meta  domain.Metadata
	event domain.Event
}

// occurredAt is when the event happened: its metadata's occurred_at, or the
// store's recording time for events written without one.
func (d decoded) occurredAt() time.Time {
	if d.meta.OccurredAt.IsZero() {
		return d.rec.RecordedAt
	}
	return d.meta.OccurredAt
}

func decode(rec eventstore.RecordedEvent) (decoded, error) {
	d := decoded{rec: rec}
	if len(rec.Metadata) > 0 {
		if err := json.Unmarshal(rec.Metadata, &d.meta); err != nil {
			return d, fmt.Errorf("decode metadata of %s@%d: %w", rec.StreamID, rec.Version, err)
		}
	}
	ev, err := domain.DecodeEvent(rec.Type, d.meta.Schema, rec.Data)
	if err != nil {
		return d, fmt.Errorf("decode %s@%d: %w", rec.StreamID, rec.Version, err)
	}
	d.event = ev
	return d, nil
}

// readStream reads stream from version from (inclusive; 0 = start) and
// decodes the events. A stream without events yields (nil, false, nil).
func (h *Handler) readStream(ctx context.Context, stream string, from uint64) ([]decoded, bool, error) {
	recs, err := h.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{From: from})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, false, nil
	}
	if err != nil {
		if errors.Is(err, eventstore.ErrClosed) {
			return nil, false, domain.Wrap(err, domain.KindUnavailable, "store_closed", "the event store is closed")
		}
		return nil, false, fmt.Errorf("read %s: %w", stream, err)
	}
	out := make([]decoded, 0, len(recs))
	for _, r := range recs {
		d, err := decode(r)
		if err != nil {
			return nil, true, err
		}
		out = append(out, d)
	}
	return out, true, nil
}

// folder is an aggregate that folds events.
type folder interface {
	Apply(e domain.Event, at time.Time)
}

// catchUp folds into agg, whose stream version is version, the events stored
// after it. It reports whether the stream exists.
func (h *Handler) catchUp(ctx context.Context, stream string, agg folder, version uint64) (bool, error) {
	events, exists, err := h.readStream(ctx, stream, version+1)
	if err != nil {
		return exists, err
	}
	for _, d := range events {
		if d.rec.Version != version+1 {
			return exists, fmt.Errorf("load %s: event version %d follows %d", stream, d.rec.Version, version)
		}
		agg.Apply(d.event, d.occurredAt())
		version++
	}
	return exists, nil
}

// lockPost returns the cache entry of post postID, locked and caught up with
// the store. The caller must unlock it. An unknown post is post_not_found.
func (h *Handler) lockPost(ctx context.Context, postID string) (*entry[*domain.Post], error) {
	e, caughtUp, err := h.lockCachedPost(ctx, postID)
	if err != nil {
		return nil, err
	}
	if !caughtUp {
		if err := h.catchUpPost(ctx, e); err != nil {
			e.mu.Unlock()
			return nil, err
		}
	}
	return e, nil
}

// lockCachedPost returns the cache entry of post postID, locked. A post
// already in the cache is returned as it is there, without reading the
// store (caughtUp false: other processes may have appended since); any
// other is loaded from its stream (caughtUp true). The caller must unlock
// the entry. An unknown post is post_not_found.
func (h *Handler) lockCachedPost(ctx context.Context, postID string) (e *entry[*domain.Post], caughtUp bool, err error) {
	id, ok := parseID(postID)
	if !ok {
		return nil, false, postNotFound(postID)
	}
	e = h.posts.acquire(domain.PostStreamPrefix + id)
	if e.loaded {
		return e, false, nil
	}
	p := &domain.Post{}
	exists, err := h.catchUp(ctx, e.key, p, 0)
	if err != nil {
		h.posts.drop(e)
		e.mu.Unlock()
		return nil, false, err
	}
	if !exists || p.Version == 0 {
		e.mu.Unlock()
		return nil, false, postNotFound(postID)
	}
	e.agg, e.loaded = p, true
	return e, true, nil
}

// catchUpPost folds into the locked, loaded entry e the events stored after
// its version. On failure e is dropped from the cache (it may be partly
// folded) but stays locked.
func (h *Handler) catchUpPost(ctx context.Context, e *entry[*domain.Post]) error {
	if _, err := h.catchUp(ctx, e.key, e.agg, e.agg.Version); err != nil {
		h.posts.drop(e)
		return err
	}
	return nil
}

// lockUser is lockPost for users; an unknown user is user_not_found.
func (h *Handler) lockUser(ctx context.Context, userID string) (*entry[*domain.User], error) {
	id, ok := parseID(userID)
	if !ok {
		return nil, userNotFound(userID)
	}
	stream := domain.UserStreamPrefix + id
	e := h.users.acquire(stream)
	u := e.agg
	if !e.loaded {
		u = &domain.User{}
	}
	exists, err := h.catchUp(ctx, stream, u, u.Version)
	if err != nil {
		h.users.drop(e)
		e.mu.Unlock()
		return nil, err
	}
	if !exists || u.Version == 0 {
		e.mu.Unlock()
		return nil, userNotFound(userID)
	}
	e.agg, e.loaded = u, true
	return e, nil
}

func postNotFound(id string) error {
	return domain.Errorf(domain.KindNotFound, "post_not_found", "post %q not found", id)
}

func userNotFound(id string) error {
	return domain.Errorf(domain.KindNotFound, "user_not_found", "user %q not found", id)
}

// LoadPost returns the current state of a post, read from its stream. The
// post is a snapshot that later commands do not change; treat its slices
// (Revisions, tags) as read-only, as they are shared with the cache.
func (h *Handler) LoadPost(ctx context.Context, postID string) (*domain.Post, error) {
	e, err := h.lockPost(ctx, postID)
	if err != nil {
		return nil, err
	}
	defer h.posts.release(e)
	return e.agg.Clone(), nil
}

// LoadUser returns the current state of a user, read from its stream.
func (h *Handler) LoadUser(ctx context.Context, userID string) (*domain.User, error) {
	e, err := h.lockUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	defer e.mu.Unlock()
	return e.agg.Clone(), nil
}
