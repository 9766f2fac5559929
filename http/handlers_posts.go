package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
)

// commandResult answers every post command.
type commandResult struct {
	ID       string `json:"id"`
	Slug     string `json:"slug"`
	Version  uint64 `json:"version"`
	Revision int    `json:"revision"`
	Position uint64 `json:"position"`
}

func (s *Server) writeResult(c *gin.Context, status int, res commands.Result) {
	c.Header("ETag", etag(res.Version))
	c.Header("X-Event-Position", res.Position.String())
	c.JSON(status, commandResult{ID: res.ID, Slug: res.Slug, Version: res.Version, Revision: res.Revision, Position: uint64(res.Position)})
}

var errPostNotFound = domain.Errorf(domain.KindNotFound, "post_not_found", "no such post")

// postID returns the path's post id; a non-UUID is an unknown post.
func postID(c *gin.Context) (string, error) {
	id := c.Param("id")
	u, err := uuid.Parse(id)
	if err != nil {
		return "", errPostNotFound
	}
	return u.String(), nil
}

// ifMatch parses If-Match: "<version>" (a weak W/ prefix is tolerated).
// Missing is a 428; anything but one quoted version is a 422.
func ifMatch(c *gin.Context) (uint64, error) {
	h := strings.TrimSpace(c.GetHeader("If-Match"))
	if h == "" {
		return 0, errPreconditionRequired
	}
	v := strings.TrimPrefix(h, "W/")
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, domain.Invalid("invalid_if_match", `If-Match must be one quoted post version, e.g. "3"`,
			map[string][]string{"If-Match": {"must be a quoted version number"}})
	}
	return n, nil
}

// postCommand runs the common shape of a command on an existing post:
// path id, If-Match, a strictly decoded body (optional when body is nil),
// then run, answering 200 with the result.
func (s *Server) postCommand(c *gin.Context, body any, allowEmpty bool, run func(id string, version uint64, m commands.Meta) (commands.Result, error)) {
	id, err := postID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	version, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if body == nil {
		body, allowEmpty = &struct{}{}, true
	}
	if err := decodeJSON(c, body, allowEmpty); err != nil {
		s.fail(c, err)
		return
	}
	res, err := run(id, version, s.meta(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeResult(c, http.StatusOK, res)
}

type draftRequest struct {
	Title   string   `json:"title"`
	Body    string   `json:"body"`
	Excerpt string   `json:"excerpt"`
	Tags    []string `json:"tags"`
	Slug    string   `json:"slug"`
}

// draftPost starts a post (POST /api/v1/posts): 201 with Location.
func (s *Server) draftPost(c *gin.Context) {
	var req draftRequest
	if err := decodeJSON(c, &req, false); err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.cfg.Commands.DraftPost(c.Request.Context(), s.meta(c), commands.DraftPost{
		Title: req.Title, Body: req.Body, Excerpt: req.Excerpt, Tags: req.Tags, Slug: req.Slug})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/posts/"+res.ID)
	s.writeResult(c, http.StatusCreated, res)
}

type editRequest struct {
	Title   *string   `json:"title"`
	Body    *string   `json:"body"`
	Excerpt *string   `json:"excerpt"`
	Tags    *[]string `json:"tags"`
	Note    string    `json:"note"`
}

// editPost makes a new revision (PATCH /api/v1/posts/{id}).
func (s *Server) editPost(c *gin.Context) {
	var req editRequest
	s.postCommand(c, &req, false, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		return s.cfg.Commands.EditPost(c.Request.Context(), m, commands.EditPost{PostID: id, ExpectedVersion: v,
			Title: req.Title, Body: req.Body, Excerpt: req.Excerpt, Tags: req.Tags, Note: req.Note})
	})
}

type slugRequest struct {
	Slug string `json:"slug"`
}

// changeSlug changes a post's slug (PUT /api/v1/posts/{id}/slug).
func (s *Server) changeSlug(c *gin.Context) {
	var req slugRequest
	s.postCommand(c, &req, false, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		return s.cfg.Commands.ChangeSlug(c.Request.Context(), m, commands.ChangeSlug{PostID: id, ExpectedVersion: v, Slug: req.Slug})
	})
}

// submitPost sends a draft to review (POST /api/v1/posts/{id}/submit).
func (s *Server) submitPost(c *gin.Context) {
	s.postCommand(c, nil, true, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		return s.cfg.Commands.SubmitPost(c.Request.Context(), m, commands.PostRef{PostID: id, ExpectedVersion: v})
	})
}

type requestChangesRequest struct {
	Comment string `json:"comment"`
}

// requestChanges returns a post in review to its author (POST /api/v1/posts/{id}/request-changes).
func (s *Server) requestChanges(c *gin.Context) {
	var req requestChangesRequest
	s.postCommand(c, &req, true, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		return s.cfg.Commands.RequestChanges(c.Request.Context(), m, commands.RequestChanges{PostID: id, ExpectedVersion: v, Comment: req.Comment})
	})
}

// publishPost publishes a post now (POST /api/v1/posts/{id}/publish).
func (s *Server) publishPost(c *gin.Context) {
	s.postCommand(c, nil, true, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		return s.cfg.Commands.PublishPost(c.Request.Context(), m, commands.PostRef{PostID: id, ExpectedVersion: v})
	})
}

type scheduleRequest struct {
	PublishAt string `json:"publish_at"`
}

// schedulePost schedules publication (POST /api/v1/posts/{id}/schedule).
func (s *Server) schedulePost(c *gin.Context) {
	var req scheduleRequest
	s.postCommand(c, &req, false, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		at, err := time.Parse(time.RFC3339, req.PublishAt)
		if err != nil {
			return commands.Result{}, domain.Invalid("invalid_time", "publish_at must be an RFC 3339 time",
				map[string][]string{"publish_at": {"must be an RFC 3339 time, e.g. 2030-01-02T15:04:05Z"}})
		}
		return s.cfg.Commands.SchedulePost(c.Request.Context(), m, commands.SchedulePost{PostID: id, ExpectedVersion: v, PublishAt: at.UTC()})
	})
}

type unpublishRequest struct {
	Reason string `json:"reason"`
}

// unpublishPost takes a post back to draft (POST /api/v1/posts/{id}/unpublish).
func (s *Server) unpublishPost(c *gin.Context) {
	var req unpublishRequest
	s.postCommand(c, &req, true, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		return s.cfg.Commands.UnpublishPost(c.Request.Context(), m, commands.UnpublishPost{PostID: id, ExpectedVersion: v, Reason: req.Reason})
	})
}

// archivePost archives a post (POST /api/v1/posts/{id}/archive).
func (s *Server) archivePost(c *gin.Context) {
	s.postCommand(c, nil, true, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		return s.cfg.Commands.ArchivePost(c.Request.Context(), m, commands.PostRef{PostID: id, ExpectedVersion: v})
	})
}

// deletePost deletes a post, keeping its history (DELETE /api/v1/posts/{id}).
func (s *Server) deletePost(c *gin.Context) {
	s.postCommand(c, nil, true, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		return s.cfg.Commands.DeletePost(c.Request.Context(), m, commands.PostRef{PostID: id, ExpectedVersion: v})
	})
}

// restorePost undoes a delete or archive (POST /api/v1/posts/{id}/restore).
func (s *Server) restorePost(c *gin.Context) {
	s.postCommand(c, nil, true, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		return s.cfg.Commands.RestorePost(c.Request.Context(), m, commands.PostRef{PostID: id, ExpectedVersion: v})
	})
}

type revertRequest struct {
	Revision int    `json:"revision"`
	Note     string `json:"note"`
}

// revertPost makes a new revision equal to an old one (POST /api/v1/posts/{id}/revert).
func (s *Server) revertPost(c *gin.Context) {
	var req revertRequest
	s.postCommand(c, &req, false, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		return s.cfg.Commands.RevertPost(c.Request.Context(), m, commands.RevertPost{PostID: id, ExpectedVersion: v, Revision: req.Revision, Note: req.Note})
	})
}
