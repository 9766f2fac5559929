package commands

import (
	"context"
	"strconv"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// DraftPost is the command to create a post as a draft.
type DraftPost struct {
	Title   string
	Body    string
	Excerpt string
	Tags    []string
	// Slug is optional. When empty it is derived from the title and made
	// unique with -2, -3, … ; when given it must be free (else slug_taken).
	Slug string
}

// maxSlugSuffix is how many numbered variants of a derived slug are tried
// before a random suffix is used.
const maxSlugSuffix = 50

// DraftPost creates a post owned by the actor (author, editor or admin).
func (h *Handler) DraftPost(ctx context.Context, m Meta, c DraftPost) (Result, error) {
	now := h.now()
	postID := newID()
	content := domain.PostContent{Title: c.Title, Body: c.Body, Excerpt: c.Excerpt, Tags: c.Tags}
	slug := c.Slug
	if slug == "" {
		slug = domain.Slugify(c.Title)
	}
	// Decide first so that refusals claim no slug.
	p, err := domain.DraftPost(m.Actor, postID, slug, content, now)
	if err != nil {
		return Result{}, err
	}
	slug, err = h.claimPostSlug(ctx, m, postID, slug, c.Slug == "")
	if err != nil {
		return Result{}, err
	}
	if slug != p.Slug {
		if p, err = domain.DraftPost(m.Actor, postID, slug, content, now); err != nil {
			h.releaseSlug(ctx, m, postID, slug)
			return Result{}, err
		}
	}
	ar, err := h.appendChanges(ctx, m, domain.PostStreamPrefix+postID, 0, p.Changes())
	if err != nil {
		h.releaseSlug(ctx, m, postID, slug)
		return Result{}, err
	}
	p.ClearChanges()
	if p.Version == ar.NextVersion {
		// The new post is current at this version: later commands on it
		// need not read its stream (see execPost).
		h.posts.offer(domain.PostStreamPrefix+postID, p)
	}
	return Result{ID: postID, Slug: slug, Version: ar.NextVersion, Revision: p.Revision, Position: ar.Position, Changed: true}, nil
}

// claimPostSlug reserves slug for postID. When derived is true and the slug is
// taken it tries slug-2, slug-3, … and finally a random suffix.
func (h *Handler) claimPostSlug(ctx context.Context, m Meta, postID, slug string, derived bool) (string, error) {
	now := h.now()
	_, err := h.claim(ctx, m, SlugStream(slug), postID, slug, "slug_taken", now)
	if err == nil || !derived || domain.CodeOf(err) != "slug_taken" {
		return slug, err
	}
	for n := 2; n <= maxSlugSuffix+1; n++ {
		suffix := "-" + strconv.Itoa(n)
		if n > maxSlugSuffix {
			suffix = "-" + postID[len(postID)-12:]
		}
		candidate := domain.TruncateSlug(slug, domain.MaxSlugLen-len(suffix)) + suffix
		_, err = h.claim(ctx, m, SlugStream(candidate), postID, candidate, "slug_taken", now)
		if err == nil || domain.CodeOf(err) != "slug_taken" {
			return candidate, err
		}
	}
	return "", err
}

// releaseSlug frees slug if postID holds it.
func (h *Handler) releaseSlug(ctx context.Context, m Meta, postID, slug string) {
	_ = h.release(ctx, m, SlugStream(slug), postID, slug, h.now())
}
