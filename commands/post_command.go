package commands

import (
	"context"
	"errors"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// postCommand describes one post use case for execPost.
type postCommand struct {
	postID   string
	expected uint64 // 0: not checked
	// decide runs the aggregate's decision method on the loaded post.
	decide func(p *domain.Post, now time.Time) error
	// beforeAppend, when set, runs after a successful decision and before the
	// append (e.g. claiming a slug). The returned undo runs if the append fails.
	beforeAppend func(ctx context.Context, p *domain.Post, now time.Time) (undo func(), err error)
	// afterAppend, when set, runs after a successful append (e.g. releasing
	// the old slug). It must not fail the command.
	afterAppend func(ctx context.Context, p *domain.Post, now time.Time)
}

// errUnconfirmed reports that an optimistic attempt (see execPost) cannot
// answer on its own: its outcome must be decided again on the post caught
// up with the store.
var errUnconfirmed = errors.New("commands: optimistic decision not confirmed by the store")

// execPost runs c on the post under its stream lock: it checks the expected
// version (before deciding), lets the aggregate decide and appends the
// decided events at the version they were decided on. On any failure the
// cached aggregate is put back as it was.
//
// A post found in the cache is first tried optimistically, without reading
// its stream: its events are appended at exactly the cached version, which
// the store accepts only if no other process appended since, that is, only
// if the decision was made on the current state. Anything else the attempt
// would answer from the cache alone (a version mismatch, a refusal, a
// no-op) and an append the store refuses for its version are not answered
// but decided again on the post caught up with the store, exactly as for a
// post that was not cached. So every answer is the one the current state
// gives, and an edit of a cached post costs one round trip (the append)
// instead of three. Commands with side effects before their append
// (beforeAppend) always decide on the caught-up post.
func (h *Handler) execPost(ctx context.Context, m Meta, c postCommand) (Result, error) {
	e, caughtUp, err := h.lockCachedPost(ctx, c.postID)
	if err != nil {
		return Result{}, err
	}
	defer h.posts.release(e)
	if !caughtUp && c.beforeAppend == nil {
		res, err := h.decidePost(ctx, m, e.agg, c, true)
		if !errors.Is(err, errUnconfirmed) {
			return res, err
		}
	}
	if !caughtUp {
		if err := h.catchUpPost(ctx, e); err != nil {
			return Result{}, err
		}
	}
	return h.decidePost(ctx, m, e.agg, c, false)
}

// decidePost checks the expected version, lets p decide and appends the
// changes at the version p had. With optimistic set, p may be behind the
// store: every outcome but a successful append is then errUnconfirmed.
func (h *Handler) decidePost(ctx context.Context, m Meta, p *domain.Post, c postCommand, optimistic bool) (Result, error) {
	if c.expected != 0 && c.expected != p.Version {
		if optimistic {
			return Result{}, errUnconfirmed
		}
		return Result{}, versionConflict(p.Version)
	}
	loaded := *p
	now := h.now()
	if err := c.decide(p, now); err != nil {
		*p = loaded
		if optimistic {
			return Result{}, errUnconfirmed
		}
		return Result{}, err
	}
	res := Result{ID: p.ID, Slug: p.Slug, Version: p.Version, Revision: p.Revision}
	changes := p.Changes()
	if len(changes) == 0 {
		if optimistic {
			return Result{}, errUnconfirmed
		}
		return res, nil
	}
	var (
		undo func()
		err  error
	)
	if c.beforeAppend != nil {
		if undo, err = c.beforeAppend(ctx, p, now); err != nil {
			*p = loaded
			return Result{}, err
		}
	}
	stream := domain.PostStreamPrefix + p.ID
	ar, err := h.appendChanges(ctx, m, stream, loaded.Version, changes)
	if err != nil {
		*p = loaded
		if undo != nil {
			undo()
		}
		if optimistic && errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			return Result{}, errUnconfirmed
		}
		return Result{}, err
	}
	p.ClearChanges()
	if c.afterAppend != nil {
		c.afterAppend(ctx, p, now)
	}
	res.Version, res.Position, res.Changed = ar.NextVersion, ar.Position, true
	return res, nil
}
