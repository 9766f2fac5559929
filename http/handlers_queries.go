package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/eventstore"
	"github.com/palimpsest-cms/palimpsest/projections"
	"github.com/palimpsest-cms/palimpsest/queries"
	"github.com/palimpsest-cms/palimpsest/textdiff"
)

// Reader is the read side the HTTP layer queries (postgres.Reader
// implements it). It applies no authorization; handlers do.
type Reader interface {
	queries.Finder
}

// waitMinPosition honours X-Min-Position: it waits, at most
// Config.MinPositionTimeout, until the named projections reached the
// position; past that it is a 503 with Retry-After.
func (s *Server) waitMinPosition(c *gin.Context, names ...string) error {
	h := c.GetHeader("X-Min-Position")
	if h == "" {
		return nil
	}
	pos, err := eventstore.ParsePosition(h)
	if err != nil {
		return domain.Invalid("invalid_min_position", "X-Min-Position must be a log position",
			map[string][]string{"X-Min-Position": {"must be a non-negative integer"}})
	}
	if pos == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.MinPositionTimeout)
	defer cancel()
	if err := s.cfg.Waiter.WaitFor(ctx, pos, names...); err != nil {
		switch {
		case c.Request.Context().Err() != nil:
			return fmt.Errorf("wait for position %d: %w", pos, c.Request.Context().Err())
		case errors.Is(err, projections.ErrProjectionFailed):
			return domain.Wrap(err, domain.KindUnavailable, "projection_failed", "a read model this endpoint needs is stopped on a failure")
		case ctx.Err() != nil, errors.Is(err, projections.ErrWaitTimeout), errors.Is(err, context.DeadlineExceeded):
			return errProjectionLag
		}
		return fmt.Errorf("wait for position %d: %w", pos, err)
	}
	return nil
}

// queryInt parses an optional integer query parameter.
func queryInt(c *gin.Context, name string) (int, bool, error) {
	v, ok := c.GetQuery(name)
	if !ok || v == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false, domain.Invalid("invalid_"+name, name+" must be a non-negative integer",
			map[string][]string{name: {"must be a non-negative integer"}})
	}
	return n, true, nil
}

func queryLimit(c *gin.Context) (int, error) {
	n, _, err := queryInt(c, "limit")
	return queries.NormalizeLimit(n), err
}

func queryTime(c *gin.Context, name string) (*time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, domain.Invalid("invalid_time", name+" must be an RFC 3339 time",
			map[string][]string{name: {"must be an RFC 3339 time, e.g. 2030-01-02T15:04:05Z"}})
	}
	t = t.UTC()
	return &t, nil
}

// listPosts lists visible posts (GET /api/v1/posts).
func (s *Server) listPosts(c *gin.Context) {
	limit, err := queryLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	f := queries.PostFilter{Tag: c.Query("tag"), Author: c.Query("author"), Q: c.Query("q"),
		Status: domain.PostStatus(c.Query("status")), Limit: limit, Cursor: c.Query("cursor")}
	if f.Status != "" && !f.Status.Valid() {
		s.fail(c, domain.Invalid("invalid_status", "unknown status", map[string][]string{"status": {"must be one of draft, in_review, scheduled, published, archived, deleted"}}))
		return
	}
	a := actorOf(c)
	switch {
	case a.Role.CanReadAll() && !a.Anonymous():
		f.IncludeAll = true
	case a.Role.CanWritePosts() && !a.Anonymous():
		f.AuthorID = a.ID
	}
	models := []string{s.cfg.ReadModels.Posts, s.cfg.ReadModels.Media}
	if strings.TrimSpace(f.Q) != "" {
		models = append(models, s.cfg.ReadModels.Search)
	}
	if err := s.waitMinPosition(c, models...); err != nil {
		s.fail(c, err)
		return
	}
	list := func(ctx context.Context) (encodedResponse, error) {
		page, err := s.cfg.Reader.ListPosts(ctx, f)
		if err != nil {
			return encodedResponse{}, err
		}
		out, err := s.postPageWithMedia(ctx, page)
		if err != nil {
			return encodedResponse{}, err
		}
		return encodeJSON(out, "")
	}
	// Without IncludeAll or AuthorID the filter alone decides the page:
	// every caller who gets this filter gets the same response.
	if !f.IncludeAll && f.AuthorID == "" {
		key := cacheKey("posts", f.Tag, f.Author, f.Q, string(f.Status), strconv.Itoa(f.Limit), f.Cursor)
		r, err := s.cachedRead(c, key, list)
		if err != nil {
			s.fail(c, err)
			return
		}
		writeEncoded(c, r, audiencePublic)
		return
	}
	r, err := list(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	writeEncoded(c, r, audiencePrivate)
}

// canSee reports whether actor may read a post in status written by authorID.
func canSee(a domain.Actor, status domain.PostStatus, authorID string) bool {
	if a.Anonymous() {
		return status == domain.StatusPublished
	}
	if a.Role.CanReadAll() {
		return true
	}
	if status == domain.StatusPublished {
		return true
	}
	return status != domain.StatusDeleted && a.ID == authorID && a.Role.CanWritePosts()
}

// visiblePost loads a post from the read model and applies visibility:
// invisible posts are unknown (404).
func (s *Server) visiblePost(c *gin.Context, idOrSlug string) (queries.Post, error) {
	p, err := s.cfg.Reader.GetPost(c.Request.Context(), idOrSlug)
	if err != nil {
		return p, err
	}
	if !canSee(actorOf(c), p.Status, p.Author.ID) {
		return p, errPostNotFound
	}
	return p, nil
}

// postAsOf is a post as it was at a point in time, straight from its stream.
type postAsOf struct {
	ID           string            `json:"id"`
	Slug         string            `json:"slug"`
	Title        string            `json:"title"`
	Excerpt      string            `json:"excerpt"`
	Body         string            `json:"body"`
	BodyHTML     string            `json:"body_html"`
	Tags         []string          `json:"tags"`
	Status       domain.PostStatus `json:"status"`
	Author       queries.UserRef   `json:"author"`
	Version      uint64            `json:"version"`
	Revision     int               `json:"revision"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	PublishedAt  *time.Time        `json:"published_at"`
	ScheduledFor *time.Time        `json:"scheduled_for"`
	AsOf         *time.Time        `json:"as_of,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// getPost returns a post by id or slug (GET /api/v1/posts/{id-or-slug});
// ?as_of=<time> or ?version=<n> return it as it was then, from its stream.
func (s *Server) getPost(c *gin.Context) {
	asOf, err := queryTime(c, "as_of")
	if err != nil {
		s.fail(c, err)
		return
	}
	version, hasVersion, err := queryInt(c, "version")
	if err != nil {
		s.fail(c, err)
		return
	}
	if asOf != nil || hasVersion {
		s.getPostAt(c, asOf, uint64(version), hasVersion)
		return
	}
	if err := s.waitMinPosition(c, s.cfg.ReadModels.Posts, s.cfg.ReadModels.Media); err != nil {
		s.fail(c, err)
		return
	}
	idOrSlug := c.Param("id")
	if publicViewer(actorOf(c)) {
		r, err := s.cachedRead(c, cacheKey("post", idOrSlug), func(ctx context.Context) (encodedResponse, error) {
			p, err := s.cfg.Reader.GetPost(ctx, idOrSlug)
			if err != nil {
				return encodedResponse{}, err
			}
			if !canSee(domain.Actor{}, p.Status, p.Author.ID) {
				return encodedResponse{}, errPostNotFound
			}
			return s.encodePost(ctx, p)
		})
		if err != nil {
			s.fail(c, err)
			return
		}
		writeEncoded(c, r, audiencePublic)
		return
	}
	p, err := s.visiblePost(c, idOrSlug)
	if err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.encodePost(c.Request.Context(), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeEncoded(c, r, audiencePrivate)
}

// encodePost encodes p with its feature image, tagged with its version.
func (s *Server) encodePost(ctx context.Context, p queries.Post) (encodedResponse, error) {
	out, err := s.postWithMedia(ctx, p)
	if err != nil {
		return encodedResponse{}, err
	}
	return encodeJSON(out, etag(p.Version))
}

func (s *Server) getPostAt(c *gin.Context, asOf *time.Time, version uint64, hasVersion bool) {
	if asOf != nil && hasVersion {
		s.fail(c, domain.Invalid("conflicting_parameters", "give as_of or version, not both",
			map[string][]string{"as_of": {"cannot be combined with version"}}))
		return
	}
	if hasVersion && version == 0 {
		s.fail(c, domain.Invalid("invalid_version", "version must be at least 1", map[string][]string{"version": {"must be at least 1"}}))
		return
	}
	ctx := c.Request.Context()
	id := c.Param("id")
	if u, err := uuid.Parse(id); err == nil {
		id = u.String()
	} else {
		if err := s.waitMinPosition(c, s.cfg.ReadModels.Posts); err != nil {
			s.fail(c, err)
			return
		}
		p, err := s.cfg.Reader.GetPost(ctx, id)
		if err != nil {
			s.fail(c, err)
			return
		}
		id = p.ID
	}
	var at time.Time
	if asOf != nil {
		at = *asOf
	}
	post, err := s.cfg.Commands.PostAt(ctx, id, at, version)
	if err != nil {
		s.fail(c, err)
		return
	}
	a := actorOf(c)
	if !(a.Role.CanReadAll() && !a.Anonymous()) && post.Status != domain.StatusPublished &&
		!(a.ID != "" && a.ID == post.AuthorID && a.Role.CanWritePosts() && post.Status != domain.StatusDeleted) {
		s.fail(c, errPostNotFound)
		return
	}
	out := postAsOf{ID: post.ID, Slug: post.Slug, Title: post.Content.Title, Excerpt: post.Content.Excerpt, Body: post.Content.Body,
		Tags: post.Content.Tags, Status: post.Status, Author: queries.UserRef{ID: post.AuthorID}, Version: post.Version,
		Revision: post.Revision, CreatedAt: post.CreatedAt.UTC(), UpdatedAt: post.UpdatedAt.UTC(),
		PublishedAt: timePtr(post.PublishedAt), ScheduledFor: timePtr(post.ScheduledFor), AsOf: asOf}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	out.BodyHTML = projections.RenderMarkdown(post.Content.Body)
	if u, err := s.cfg.Reader.GetUser(ctx, post.AuthorID); err == nil {
		out.Author = queries.UserRef{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName}
	}
	r, err := encodeJSON(out, etag(post.Version))
	if err != nil {
		s.fail(c, err)
		return
	}
	to := audiencePrivate
	if publicViewer(a) {
		to = audiencePublic
	}
	writeEncoded(c, r, to)
}

// historyPost loads a post for the revision/history endpoints: visible to
// the caller (else 404), and the caller is its author or may read all (else 403).
func (s *Server) historyPost(c *gin.Context) (queries.Post, bool) {
	if err := s.waitMinPosition(c, s.cfg.ReadModels.Posts, s.cfg.ReadModels.History); err != nil {
		s.fail(c, err)
		return queries.Post{}, false
	}
	id, err := postID(c)
	if err != nil {
		s.fail(c, err)
		return queries.Post{}, false
	}
	p, err := s.visiblePost(c, id)
	if err != nil {
		s.fail(c, err)
		return p, false
	}
	a := actorOf(c)
	if !a.Role.CanReadAll() && a.ID != p.Author.ID {
		s.fail(c, domain.Errorf(domain.KindForbidden, "forbidden_role", "only the post's author, editors, auditors and admins see its history"))
		return p, false
	}
	return p, true
}

// listRevisions lists a post's content snapshots (GET /api/v1/posts/{id}/revisions).
func (s *Server) listRevisions(c *gin.Context) {
	limit, err := queryLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	p, ok := s.historyPost(c)
	if !ok {
		return
	}
	// Past this point the caller may read the post's history, and a page
	// of its revisions is the same for every such caller: snapshots never
	// change, and a new one comes with a projection commit, which moves
	// the cache's generation. So pages are cached by post, limit and
	// cursor (see cachedRead); the authorization above runs on every
	// request.
	cursor := c.Query("cursor")
	key := cacheKey("revisions", p.ID, strconv.Itoa(limit), cursor)
	r, err := s.cachedRead(c, key, func(ctx context.Context) (encodedResponse, error) {
		page, err := s.cfg.Reader.ListRevisions(ctx, p.ID, limit, cursor)
		if err != nil {
			return encodedResponse{}, err
		}
		return encodeJSON(page, "")
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	writeEncoded(c, r, audiencePrivate)
}

func revisionParam(c *gin.Context, raw, name string) (int, error) {
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, domain.Invalid("invalid_revision", name+" must be a revision number",
			map[string][]string{name: {"must be an integer of at least 1"}})
	}
	return n, nil
}

// getRevision returns one snapshot with its body (GET /api/v1/posts/{id}/revisions/{n}).
func (s *Server) getRevision(c *gin.Context) {
	n, err := revisionParam(c, c.Param("n"), "n")
	if err != nil {
		s.fail(c, err)
		return
	}
	p, ok := s.historyPost(c)
	if !ok {
		return
	}
	r, err := s.cfg.Reader.GetRevision(c.Request.Context(), p.ID, n)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// fieldDiff is the before and after of one text field.
type fieldDiff struct {
	Before  string `json:"before"`
	After   string `json:"after"`
	Changed bool   `json:"changed"`
}

// tagsDiff lists tags added and removed.
type tagsDiff struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// bodyDiff is the body as line hunks with changed words marked.
type bodyDiff struct {
	Changed bool            `json:"changed"`
	Hunks   []textdiff.Hunk `json:"hunks"`
}

// revisionDiff answers GET /api/v1/posts/{id}/diff.
type revisionDiff struct {
	PostID  string    `json:"post_id"`
	From    int       `json:"from"`
	To      int       `json:"to"`
	Title   fieldDiff `json:"title"`
	Excerpt fieldDiff `json:"excerpt"`
	Tags    tagsDiff  `json:"tags"`
	Body    bodyDiff  `json:"body"`
}

// diffContextLines is how many unchanged lines surround each hunk.
const diffContextLines = 3

// diffRevisions compares two revisions (GET /api/v1/posts/{id}/diff?from=&to=).
func (s *Server) diffRevisions(c *gin.Context) {
	from, err := revisionParam(c, c.Query("from"), "from")
	if err != nil {
		s.fail(c, err)
		return
	}
	to, err := revisionParam(c, c.Query("to"), "to")
	if err != nil {
		s.fail(c, err)
		return
	}
	p, ok := s.historyPost(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	a, err := s.cfg.Reader.GetRevision(ctx, p.ID, from)
	if err != nil {
		s.fail(c, err)
		return
	}
	b, err := s.cfg.Reader.GetRevision(ctx, p.ID, to)
	if err != nil {
		s.fail(c, err)
		return
	}
	added, removed := textdiff.Tags(a.Tags, b.Tags)
	if added == nil {
		added = []string{}
	}
	if removed == nil {
		removed = []string{}
	}
	hunks := textdiff.Lines(a.Body, b.Body, diffContextLines)
	if hunks == nil {
		hunks = []textdiff.Hunk{}
	}
	c.JSON(http.StatusOK, revisionDiff{
		PostID: p.ID, From: from, To: to,
		Title:   fieldDiff{Before: a.Title, After: b.Title, Changed: a.Title != b.Title},
		Excerpt: fieldDiff{Before: a.Excerpt, After: b.Excerpt, Changed: a.Excerpt != b.Excerpt},
		Tags:    tagsDiff{Added: added, Removed: removed},
		Body:    bodyDiff{Changed: a.Body != b.Body, Hunks: hunks},
	})
}

// listHistory returns every event of a post, oldest first (GET /api/v1/posts/{id}/history).
func (s *Server) listHistory(c *gin.Context) {
	p, ok := s.historyPost(c)
	if !ok {
		return
	}
	items, err := s.cfg.Reader.ListHistory(c.Request.Context(), p.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if items == nil {
		items = []queries.HistoryEntry{}
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

// listTags returns the tags of published posts (GET /api/v1/tags).
func (s *Server) listTags(c *gin.Context) {
	if err := s.waitMinPosition(c, s.cfg.ReadModels.Posts); err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.cachedRead(c, "tags", func(ctx context.Context) (encodedResponse, error) {
		tags, err := s.cfg.Reader.ListTags(ctx)
		if err != nil {
			return encodedResponse{}, err
		}
		if tags == nil {
			tags = []queries.Tag{}
		}
		return encodeJSON(gin.H{"items": tags}, "")
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	writeEncoded(c, r, audienceEveryone)
}

// listUsers lists accounts (GET /api/v1/users; admin, auditor).
func (s *Server) listUsers(c *gin.Context) {
	limit, err := queryLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	f := queries.UserFilter{Role: domain.Role(c.Query("role")), Status: domain.UserStatus(c.Query("status")), Q: c.Query("q"),
		Limit: limit, Cursor: c.Query("cursor")}
	if f.Role != "" && !f.Role.Valid() {
		s.fail(c, domain.Invalid("invalid_role", "unknown role", map[string][]string{"role": {"must be one of reader, author, editor, auditor, admin"}}))
		return
	}
	if err := s.waitMinPosition(c, s.cfg.ReadModels.Users, s.cfg.ReadModels.Media); err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.cfg.Reader.ListUsers(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	items, err := s.usersWithMedia(c.Request.Context(), page.Items)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, queries.Page[userJSON]{Items: items, NextCursor: page.NextCursor})
}

// getUser returns one account (GET /api/v1/users/{id}; admin, auditor).
func (s *Server) getUser(c *gin.Context) {
	if err := s.waitMinPosition(c, s.cfg.ReadModels.Users, s.cfg.ReadModels.Media); err != nil {
		s.fail(c, err)
		return
	}
	u, err := s.cfg.Reader.GetUser(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.usersWithMedia(c.Request.Context(), []queries.User{u})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out[0])
}
