package commands

import (
	"context"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// execUser loads the user under its stream lock, lets the aggregate decide
// and appends at the loaded version. User commands carry no expected version
// (API.md), so a concurrent change makes execUser decide once more on the
// fresh state before reporting version_conflict.
func (h *Handler) execUser(ctx context.Context, m Meta, userID string, decide func(u *domain.User, now time.Time) error) (Result, error) {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var res Result
		res, err = h.execUserOnce(ctx, m, userID, decide)
		if domain.CodeOf(err) != "version_conflict" {
			return res, err
		}
	}
	return Result{}, err
}

func (h *Handler) execUserOnce(ctx context.Context, m Meta, userID string, decide func(u *domain.User, now time.Time) error) (Result, error) {
	e, err := h.lockUser(ctx, userID)
	if err != nil {
		return Result{}, err
	}
	defer e.mu.Unlock()
	u := e.agg
	loaded := *u
	now := h.now()
	if err := decide(u, now); err != nil {
		*u = loaded
		return Result{}, err
	}
	res := Result{ID: u.ID, Version: u.Version}
	if len(u.Changes()) == 0 {
		return res, nil
	}
	ar, err := h.appendChanges(ctx, m, domain.UserStreamPrefix+u.ID, loaded.Version, u.Changes())
	if err != nil {
		*u = loaded
		return Result{}, err
	}
	u.ClearChanges()
	res.Version, res.Position, res.Changed = ar.NextVersion, ar.Position, true
	return res, nil
}
