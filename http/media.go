package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/media"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// multipartOverhead is what an upload body may carry beyond the file: part
// headers, boundaries and the alt field.
const multipartOverhead int64 = 64 << 10

// maxAltFieldBytes bounds the alt form field (1,000 characters of up to 4
// bytes, with room for whitespace that is trimmed).
const maxAltFieldBytes = 8 << 10

var (
	errMediaTooLarge   = domain.Errorf(domain.KindTooLarge, "media_too_large", "the upload is too large")
	errNotMultipart    = domain.Errorf(domain.KindInvalid, "unsupported_media_type", "the request body must be multipart/form-data with a file field")
	errMediaNotFound   = domain.Errorf(domain.KindNotFound, "media_not_found", "no such media")
	errMediaUnready    = domain.Errorf(domain.KindUnavailable, "media_unavailable", "the media library is not configured")
	errMediaIfMatch    = domain.Errorf(domain.KindPrecondition, "precondition_required", `send If-Match: "<version>" with changes to a media item`)
	errMalformedUpload = domain.Errorf(domain.KindInvalid, "malformed_multipart", "the multipart body is malformed")
)

// canUseLibrary reports whether a role may browse the media library:
// authors and up, and auditors (read only).
func canUseLibrary(r domain.Role) bool { return r.CanWritePosts() || r.CanAudit() }

// isUploadRoute reports whether the matched route takes a media upload.
func isUploadRoute(c *gin.Context) bool {
	switch c.FullPath() {
	case "/api/v1/media":
		return c.Request.Method == http.MethodPost
	case "/api/v1/me/avatar":
		return c.Request.Method == http.MethodPut
	}
	return false
}

// limitRequestBody caps request bodies: media uploads at
// Config.MediaMaxBytes plus the multipart overhead (413 media_too_large),
// everything else at Config.MaxBodyBytes (limitBody).
func (s *Server) limitRequestBody(c *gin.Context) {
	if !isUploadRoute(c) {
		s.limitBody(c)
		return
	}
	limit := s.cfg.MediaMaxBytes + multipartOverhead
	if c.Request.ContentLength > limit {
		s.fail(c, errMediaTooLarge)
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	c.Next()
}

// upload is a parsed multipart upload.
type upload struct {
	File []byte
	Alt  string
}

// readUpload reads a multipart/form-data body with a "file" part and an
// optional "alt" field. The client's file name and part content type are
// ignored (the type is sniffed from the bytes). The body is already capped
// by limitRequestBody; going over it is a 413 media_too_large.
func readUpload(c *gin.Context) (upload, error) {
	var up upload
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return up, errNotMultipart
	}
	mr := multipart.NewReader(c.Request.Body, params["boundary"])
	haveFile := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return up, uploadError(err)
		}
		switch p.FormName() {
		case "file":
			if haveFile {
				return up, domain.Invalid("too_many_files", "send one file", map[string][]string{"file": {"must be sent once"}})
			}
			b, err := io.ReadAll(p)
			if err != nil {
				return up, uploadError(err)
			}
			up.File, haveFile = b, true
		case "alt":
			b, err := io.ReadAll(io.LimitReader(p, maxAltFieldBytes+1))
			if err != nil {
				return up, uploadError(err)
			}
			if len(b) > maxAltFieldBytes {
				return up, domain.Invalid("invalid_alt", "the alternative text is invalid", map[string][]string{"alt": {"must be at most 1000 characters"}})
			}
			up.Alt = string(b)
		default:
			if _, err := io.Copy(io.Discard, p); err != nil {
				return up, uploadError(err)
			}
		}
	}
	if !haveFile || len(up.File) == 0 {
		return up, domain.Invalid("empty_upload", "the file is missing", map[string][]string{"file": {"is required"}})
	}
	return up, nil
}

func uploadError(err error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return errMediaTooLarge
	}
	return domain.Wrap(err, domain.KindInvalid, "malformed_multipart", errMalformedUpload.Message)
}

// renditionDTO is one rendition with its URL.
type renditionDTO struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Type   string `json:"type"`
	URL    string `json:"url"`
}

// mediaDTO is a media item as the API shows it.
type mediaDTO struct {
	ID         string          `json:"id"`
	Hash       string          `json:"hash"`
	Type       string          `json:"type"`
	Size       int64           `json:"size"`
	Width      int             `json:"width"`
	Height     int             `json:"height"`
	Alt        string          `json:"alt"`
	Uploader   queries.UserRef `json:"uploader"`
	Version    uint64          `json:"version"`
	CreatedAt  time.Time       `json:"created_at"`
	Deleted    bool            `json:"deleted"`
	DeletedAt  *time.Time      `json:"deleted_at,omitempty"`
	Renditions []renditionDTO  `json:"renditions"`
	Srcset     string          `json:"srcset"`
	// Position is the log position of the change (command responses only).
	Position *uint64 `json:"position,omitempty"`
}

// renditionURL is where a rendition is served.
func renditionURL(hash, name, mimeType string) string {
	return "/media/" + hash + "/" + name + "." + media.ExtensionOf(mimeType)
}

// renditionDTOs lists renditions with their URLs and builds the srcset:
// the width renditions (w320, w640, …) when there are any, else every
// rendition, by width, one candidate per width.
func renditionDTOs(hash string, rs []queries.MediaRendition) ([]renditionDTO, string) {
	out := make([]renditionDTO, 0, len(rs))
	var widths []renditionDTO
	for _, r := range rs {
		d := renditionDTO{Name: r.Name, Width: r.Width, Height: r.Height, Type: r.Type, URL: renditionURL(hash, r.Name, r.Type)}
		out = append(out, d)
		if isWidthRendition(r.Name) {
			widths = append(widths, d)
		}
	}
	if len(widths) == 0 {
		widths = append(widths, out...)
	}
	return out, srcset(widths)
}

func isWidthRendition(name string) bool {
	n, ok := strings.CutPrefix(name, "w")
	if !ok || n == "" {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

func srcset(rs []renditionDTO) string {
	rs = append([]renditionDTO(nil), rs...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Width < rs[j].Width })
	var parts []string
	last := -1
	for _, r := range rs {
		if r.Width == last || r.Width <= 0 {
			continue
		}
		last = r.Width
		parts = append(parts, r.URL+" "+strconv.Itoa(r.Width)+"w")
	}
	return strings.Join(parts, ", ")
}

func domainRenditions(rs []domain.Rendition) []queries.MediaRendition {
	out := make([]queries.MediaRendition, len(rs))
	for i, r := range rs {
		out[i] = queries.MediaRendition{Name: r.Name, Width: r.Width, Height: r.Height, Type: r.Type, Size: r.Size}
	}
	return out
}

// newMediaDTO converts a library item of the read model.
func newMediaDTO(m queries.Media) mediaDTO {
	rs, set := renditionDTOs(m.Hash, m.Renditions)
	return mediaDTO{ID: m.ID, Hash: m.Hash, Type: m.Type, Size: m.Size, Width: m.Width, Height: m.Height, Alt: m.Alt,
		Uploader: m.Uploader, Version: m.Version, CreatedAt: m.CreatedAt.UTC(), Deleted: m.DeletedAt != nil, DeletedAt: m.DeletedAt,
		Renditions: rs, Srcset: set}
}

// mediaResultDTO converts a command's result; the uploader's names are
// read from the account's stream (best effort).
func (s *Server) mediaResultDTO(ctx context.Context, m commands.MediaResult) mediaDTO {
	rs, set := renditionDTOs(m.Hash, domainRenditions(m.Renditions))
	d := mediaDTO{ID: m.ID, Hash: m.Hash, Type: m.Type, Size: m.Size, Width: m.Width, Height: m.Height, Alt: m.Alt,
		Uploader: queries.UserRef{ID: m.UploaderID}, Version: m.Version, CreatedAt: m.CreatedAt.UTC(), Deleted: m.Deleted,
		Renditions: rs, Srcset: set}
	if m.Changed {
		pos := uint64(m.Position)
		d.Position = &pos
	}
	if u, err := s.cfg.Commands.LoadUser(ctx, m.UploaderID); err == nil {
		d.Uploader.Username, d.Uploader.DisplayName = u.Username, u.DisplayName
	}
	return d
}

// writeMediaResult answers a media command: ETag (the media stream
// version) and, when an event was recorded, X-Event-Position.
func (s *Server) writeMediaResult(c *gin.Context, status int, res commands.MediaResult) {
	c.Header("ETag", etag(res.Version))
	if res.Changed {
		c.Header("X-Event-Position", res.Position.String())
	}
	c.JSON(status, s.mediaResultDTO(c.Request.Context(), res))
}

// mediaID returns the path's media id; a non-UUID is unknown media.
func mediaID(c *gin.Context) (string, error) {
	u, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return "", errMediaNotFound
	}
	return u.String(), nil
}

// uploadMedia adds an image to the library (POST /api/v1/media, multipart
// "file" and optional "alt"): 201 with Location for new bytes, 200 with the
// existing item when the same bytes are already in the library.
func (s *Server) uploadMedia(c *gin.Context) {
	up, err := readUpload(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.cfg.Commands.UploadMedia(c.Request.Context(), s.meta(c), commands.UploadMedia{
		Alt: up.Alt, Reader: bytes.NewReader(up.File), Size: int64(len(up.File))})
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	if res.Changed {
		status = http.StatusCreated
	}
	c.Header("Location", "/api/v1/media/"+res.ID)
	s.writeMediaResult(c, status, res)
}

// mediaFinder returns the library reader or fails with 503.
func (s *Server) mediaFinder(c *gin.Context) (queries.MediaFinder, bool) {
	if s.cfg.Media == nil {
		s.fail(c, errMediaUnready)
		return nil, false
	}
	if err := s.waitMinPosition(c, s.cfg.ReadModels.Media); err != nil {
		s.fail(c, err)
		return nil, false
	}
	return s.cfg.Media, true
}

// mediaPage is a page of the library.
type mediaPage struct {
	Items      []mediaDTO `json:"items"`
	NextCursor *string    `json:"next_cursor"`
}

// listMedia lists the library newest first (GET /api/v1/media?uploader=&type=).
func (s *Server) listMedia(c *gin.Context) {
	limit, err := queryLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	f := queries.MediaFilter{UploaderID: c.Query("uploader"), Type: c.Query("type"), Limit: limit, Cursor: c.Query("cursor")}
	mf, ok := s.mediaFinder(c)
	if !ok {
		return
	}
	page, err := mf.ListMedia(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := mediaPage{Items: make([]mediaDTO, 0, len(page.Items))}
	for _, m := range page.Items {
		out.Items = append(out.Items, newMediaDTO(m))
	}
	out.NextCursor = page.NextCursor
	c.JSON(http.StatusOK, out)
}

// getMedia returns one library item, deleted ones included
// (GET /api/v1/media/{id}).
func (s *Server) getMedia(c *gin.Context) {
	id, err := mediaID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	mf, ok := s.mediaFinder(c)
	if !ok {
		return
	}
	m, err := mf.GetMedia(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", etag(m.Version))
	c.JSON(http.StatusOK, newMediaDTO(m))
}

type patchMediaRequest struct {
	Alt *string `json:"alt"`
}

// patchMedia changes a media item's alt text (PATCH /api/v1/media/{id};
// uploader, editor, admin; If-Match required).
func (s *Server) patchMedia(c *gin.Context) {
	id, err := mediaID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if strings.TrimSpace(c.GetHeader("If-Match")) == "" {
		s.fail(c, errMediaIfMatch)
		return
	}
	version, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req patchMediaRequest
	if err := decodeJSON(c, &req, false); err != nil {
		s.fail(c, err)
		return
	}
	if req.Alt == nil {
		s.fail(c, domain.Invalid("no_changes", "nothing to change", map[string][]string{"alt": {"is required"}}))
		return
	}
	res, err := s.cfg.Commands.ChangeMediaAlt(c.Request.Context(), s.meta(c), commands.ChangeMediaAlt{MediaID: id, ExpectedVersion: version, Alt: *req.Alt})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeMediaResult(c, http.StatusOK, res)
}

// deleteMedia removes a media item from the library (DELETE
// /api/v1/media/{id}; editor, admin). If-Match is optional: when sent it
// must be the current version. Refused with 409 media_in_use while a
// published or scheduled post has it as feature image.
func (s *Server) deleteMedia(c *gin.Context) {
	id, err := mediaID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var version uint64
	if strings.TrimSpace(c.GetHeader("If-Match")) != "" {
		if version, err = ifMatch(c); err != nil {
			s.fail(c, err)
			return
		}
	}
	res, err := s.cfg.Commands.DeleteMedia(c.Request.Context(), s.meta(c), commands.MediaRef{MediaID: id, ExpectedVersion: version})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeMediaResult(c, http.StatusOK, res)
}

type featureImageRequest struct {
	MediaID string `json:"media_id"`
	Alt     string `json:"alt"`
}

// putFeatureImage sets (or with an empty media_id removes) a post's
// feature image (PUT /api/v1/posts/{id}/feature-image; If-Match).
func (s *Server) putFeatureImage(c *gin.Context) {
	var req featureImageRequest
	s.postCommand(c, &req, false, func(id string, v uint64, m commands.Meta) (commands.Result, error) {
		mid := req.MediaID
		if mid != "" {
			u, err := uuid.Parse(mid)
			if err != nil {
				return commands.Result{}, domain.Invalid("invalid_feature_image", "the feature image is invalid",
					map[string][]string{"media_id": {"must name an uploaded media item"}})
			}
			mid = u.String()
		}
		return s.cfg.Commands.SetFeatureImage(c.Request.Context(), m, commands.SetFeatureImage{PostID: id, ExpectedVersion: v, MediaID: mid, Alt: req.Alt})
	})
}

// avatarDTO is a user's profile picture.
type avatarDTO struct {
	MediaID string `json:"media_id"`
	URL     string `json:"url"`
	Srcset  string `json:"srcset"`
}

// avatarOf describes u's profile picture, or nil when it has none (or its
// media item cannot be read).
func (s *Server) avatarOf(ctx context.Context, u *domain.User) *avatarDTO {
	if u == nil || u.Avatar.MediaID == "" {
		return nil
	}
	m, err := s.cfg.Commands.LoadMedia(ctx, u.Avatar.MediaID)
	if err != nil {
		return nil
	}
	return newAvatarDTO(m.ID, m.Hash, domainRenditions(m.Renditions))
}

// newAvatarDTO picks the largest rendition (at most 480×480) as URL.
func newAvatarDTO(mediaID, hash string, rs []queries.MediaRendition) *avatarDTO {
	dtos, _ := renditionDTOs(hash, rs)
	if len(dtos) == 0 {
		return nil
	}
	best := dtos[0]
	for _, d := range dtos[1:] {
		if d.Width > best.Width {
			best = d
		}
	}
	return &avatarDTO{MediaID: mediaID, URL: best.URL, Srcset: srcset(dtos)}
}

// avatarChange answers PUT /api/v1/me/avatar.
type avatarChange struct {
	User     userDTO  `json:"user"`
	Version  uint64   `json:"version"`
	Position uint64   `json:"position"`
	Media    mediaDTO `json:"media"`
}

// putAvatar uploads the caller's profile picture (PUT /api/v1/me/avatar,
// multipart "file"): renditions fit 480×480 (thumb) and 128×128 (small).
func (s *Server) putAvatar(c *gin.Context) {
	up, err := readUpload(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	id := actorOf(c).ID
	res, err := s.cfg.Commands.SetAvatar(ctx, s.meta(c), id, bytes.NewReader(up.File))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.users.forget(id)
	u, err := s.cfg.Commands.LoadUser(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	if res.Position != 0 {
		c.Header("X-Event-Position", res.Position.String())
	}
	c.Header("ETag", etag(u.Version))
	dto := newUserDTO(u)
	dto.Avatar = s.avatarOf(ctx, u)
	c.JSON(http.StatusOK, avatarChange{User: dto, Version: u.Version, Position: uint64(res.Position), Media: s.mediaResultDTO(ctx, res.Media)})
}

// servableExt lists the extensions renditions are served under.
var servableExt = map[string]bool{"jpg": true, "jpeg": true, "png": true, "gif": true, "webp": true}

// serveMedia serves a rendition (GET /media/{hash}/{rendition}.{ext}):
// public, immutable, with ETag and Range support (media.ServeRendition).
// The hash (64 lower-case hex), the rendition name and the extension are
// validated before the blob store is touched; originals are never served.
func (s *Server) serveMedia(c *gin.Context) {
	hash := c.Param("hash")
	name, ext, ok := strings.Cut(c.Param("file"), ".")
	if !ok || !media.ValidHash(hash) || !validRenditionName(name) || !servableExt[ext] || s.cfg.Blobs == nil {
		s.fail(c, errNotFound)
		return
	}
	exists, err := s.cfg.Blobs.Exists(c.Request.Context(), hash, name)
	if err != nil {
		s.fail(c, fmt.Errorf("serve media %s/%s: %w", hash, name, err))
		return
	}
	if !exists {
		s.fail(c, errNotFound)
		return
	}
	if err := media.ServeRendition(c.Writer, c.Request, s.cfg.Blobs, hash, name, ext); err != nil {
		c.Abort()
	}
}

// validRenditionName accepts the names renditions are made under: 1..32
// of [a-z0-9_-], and never the original.
func validRenditionName(n string) bool {
	if n == "" || len(n) > 32 || n == media.RenditionOriginal {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// featureImageDTO is a post's feature image as the API shows it.
type featureImageDTO struct {
	MediaID string `json:"media_id"`
	Alt     string `json:"alt"`
	URL     string `json:"url"`
	Srcset  string `json:"srcset"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
}

// newFeatureImageDTO describes l; its URL is the w640 rendition (else the
// widest), a sensible src beside the srcset.
func newFeatureImageDTO(l queries.MediaLink) *featureImageDTO {
	rs, set := renditionDTOs(l.Hash, l.Renditions)
	d := &featureImageDTO{MediaID: l.MediaID, Alt: l.Alt, Srcset: set, Width: l.Width, Height: l.Height}
	best := -1
	for i, r := range rs {
		if r.Name == media.RenditionW640 {
			best = i
			break
		}
		if isWidthRendition(r.Name) && (best < 0 || r.Width > rs[best].Width) {
			best = i
		}
	}
	if best < 0 && len(rs) > 0 {
		best = 0
	}
	if best >= 0 {
		d.URL = rs[best].URL
	}
	return d
}

// postJSON is a post with its feature image.
type postJSON struct {
	queries.Post
	FeatureImage *featureImageDTO `json:"feature_image,omitempty"`
}

// postSummaryJSON is a listed post with its feature image.
type postSummaryJSON struct {
	queries.PostSummary
	FeatureImage *featureImageDTO `json:"feature_image,omitempty"`
}

// userJSON is an account with its profile picture.
type userJSON struct {
	queries.User
	Avatar *avatarDTO `json:"avatar,omitempty"`
}

// mediaLinks returns the reader of feature images and avatars, or nil.
func (s *Server) mediaLinks() queries.MediaLinkFinder {
	l, _ := s.cfg.Reader.(queries.MediaLinkFinder)
	return l
}

// postWithMedia adds p's feature image (one more query, only when it has one
// that the Reader did not read with the post).
func (s *Server) postWithMedia(ctx context.Context, p queries.Post) (postJSON, error) {
	out := postJSON{Post: p}
	if p.FeatureImage != nil {
		out.FeatureImage = newFeatureImageDTO(*p.FeatureImage)
		return out, nil
	}
	if l := s.mediaLinks(); l != nil && p.FeatureMediaID != "" {
		links, err := l.FeatureImages(ctx, []string{p.ID})
		if err != nil {
			return out, err
		}
		if fi, ok := links[p.ID]; ok {
			out.FeatureImage = newFeatureImageDTO(fi)
		}
	}
	return out, nil
}

// postPageWithMedia adds the feature images of a page of posts.
func (s *Server) postPageWithMedia(ctx context.Context, page queries.Page[queries.PostSummary]) (queries.Page[postSummaryJSON], error) {
	out := queries.Page[postSummaryJSON]{Items: make([]postSummaryJSON, len(page.Items)), NextCursor: page.NextCursor}
	ids := make([]string, 0, len(page.Items))
	for i, p := range page.Items {
		out.Items[i].PostSummary = p
		switch {
		case p.FeatureImage != nil:
			out.Items[i].FeatureImage = newFeatureImageDTO(*p.FeatureImage)
		case p.FeatureMediaID != "":
			ids = append(ids, p.ID)
		}
	}
	if l := s.mediaLinks(); l != nil && len(ids) > 0 {
		links, err := l.FeatureImages(ctx, ids)
		if err != nil {
			return out, err
		}
		for i := range out.Items {
			if fi, ok := links[out.Items[i].ID]; ok {
				out.Items[i].FeatureImage = newFeatureImageDTO(fi)
			}
		}
	}
	return out, nil
}

// usersWithMedia adds the profile pictures of users.
func (s *Server) usersWithMedia(ctx context.Context, users []queries.User) ([]userJSON, error) {
	out := make([]userJSON, len(users))
	ids := make([]string, len(users))
	for i, u := range users {
		out[i].User, ids[i] = u, u.ID
	}
	if l := s.mediaLinks(); l != nil && len(ids) > 0 {
		links, err := l.Avatars(ctx, ids)
		if err != nil {
			return out, err
		}
		for i := range out {
			if a, ok := links[out[i].ID]; ok {
				out[i].Avatar = newAvatarDTO(a.MediaID, a.Hash, a.Renditions)
			}
		}
	}
	return out, nil
}
