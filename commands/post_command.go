package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
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

// execPost loads the post under its stream lock, checks the expected version
// (before deciding), lets the aggregate decide and appends the decided events
// at the loaded version. On any failure the cached aggregate is put back as
// it was loaded.
func (h *Handler) execPost(ctx context.Context, m Meta, c postCommand) (Result, error) {
	e, err := h.lockPost(ctx, c.postID)
	if err != nil {
		return Result{}, err
	}
	defer e.mu.Unlock()
	p := e.agg
	if c.expected != 0 && c.expected != p.Version {
		return Result{}, versionConflict(p.Version)
	}
	loaded := *p
	now := h.now()
	if err := c.decide(p, now); err != nil {
		*p = loaded
		return Result{}, err
	}
	res := Result{ID: p.ID, Slug: p.Slug, Version: p.Version, Revision: p.Revision}
	changes := p.Changes()
	if len(changes) == 0 {
		return res, nil
	}
	var undo func()
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
		return Result{}, err
	}
	p.ClearChanges()
	if c.afterAppend != nil {
		c.afterAppend(ctx, p, now)
	}
	res.Version, res.Position, res.Changed = ar.NextVersion, ar.Position, true
	return res, nil
}
