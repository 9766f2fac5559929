package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/media"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// MediaReader lists the media library. *postgres.Reader satisfies it.
type MediaReader interface {
	ListMedia(ctx context.Context, filter queries.MediaFilter) (queries.Page[queries.Media], error)
}

// maxUploadBytes bounds a multipart upload form read by the UI; the media
// commands apply the configured per-file limit themselves.
const maxUploadBytes = 64 << 20

// mediaURL returns the public URL of a rendition (API.md: GET
// /media/{hash}/{rendition}.{ext}), or "" when it has none of that name.
func mediaURL(hash string, renditions []queries.MediaRendition, name string) string {
	for _, r := range renditions {
		if r.Name == name {
			if ext := media.ExtensionOf(r.Type); ext != "" {
				return "/media/" + hash + "/" + name + "." + ext
			}
		}
	}
	return ""
}

// libraryItem is a media item with its thumbnail URL.
type libraryItem struct {
	queries.Media
	Thumb string
	Large string
}

func (ui *UI) mediaLibrary(c *gin.Context) {
	if ui.cfg.Media == nil {
		ui.renderError(c, http.StatusNotFound, "")
		return
	}
	a := actorOf(c)
	f := queries.MediaFilter{Cursor: c.Query("cursor"), Limit: 24}
	if c.Query("mine") != "" {
		f.UploaderID = a.ID
	}
	pg, err := ui.cfg.Media.ListMedia(c.Request.Context(), f)
	if err != nil {
		ui.fail(c, err)
		return
	}
	items := make([]libraryItem, len(pg.Items))
	for i, m := range pg.Items {
		items[i] = libraryItem{Media: m, Thumb: mediaURL(m.Hash, m.Renditions, media.RenditionThumb),
			Large: mediaURL(m.Hash, m.Renditions, media.RenditionW1280)}
		if items[i].Large == "" {
			items[i].Large = items[i].Thumb
		}
	}
	p := ui.newPage(c, "Media library")
	p.MainWide = true
	p.Data["Items"] = items
	p.Data["Mine"] = f.UploaderID != ""
	if pg.NextCursor != nil {
		q := c.Request.URL.Query()
		q.Set("cursor", *pg.NextCursor)
		q.Del("msg")
		p.Data["Next"] = "/desk/media?" + q.Encode()
	}
	ui.render(c, http.StatusOK, "media", p)
}

func (ui *UI) uploadMedia(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUploadBytes)
	fh, err := c.FormFile("file")
	if err != nil {
		ui.renderError(c, http.StatusBadRequest, "Choose an image file to upload.")
		return
	}
	file, err := fh.Open()
	if err != nil {
		ui.fail(c, err)
		return
	}
	defer file.Close()
	res, err := ui.cfg.Commands.UploadMedia(c.Request.Context(), ui.meta(c), commands.UploadMedia{
		Filename: fh.Filename, Alt: strings.TrimSpace(c.PostForm("alt")), Reader: file, Size: fh.Size,
	})
	if err != nil {
		ui.mediaError(c, err)
		return
	}
	ui.wait(c.Request.Context(), res.Position)
	redirect(c, "/desk/media", "uploaded")
}

func (ui *UI) uploadAvatar(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUploadBytes)
	fh, err := c.FormFile("avatar")
	if err != nil {
		ui.renderError(c, http.StatusBadRequest, "Choose an image file to upload.")
		return
	}
	file, err := fh.Open()
	if err != nil {
		ui.fail(c, err)
		return
	}
	defer file.Close()
	a := actorOf(c)
	res, err := ui.cfg.Commands.SetAvatar(c.Request.Context(), ui.meta(c), a.ID, file)
	if err != nil {
		ui.mediaError(c, err)
		return
	}
	ui.wait(c.Request.Context(), res.Position)
	redirect(c, "/profile", "avatar")
}

// mediaError shows a refused upload (wrong type, too large…) or fails.
func (ui *UI) mediaError(c *gin.Context, err error) {
	var de *domain.Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		ui.renderError(c, http.StatusRequestEntityTooLarge, "The file is too large.")
	case errors.As(err, &de) && de.Kind != domain.KindInternal:
		ui.renderError(c, statusOf(de.Kind), de.Message)
	default:
		ui.fail(c, err)
	}
}

// avatarURL returns the URL of u's small profile picture, or "".
func (ui *UI) avatarURL(ctx context.Context, u *domain.User) string {
	if u == nil || u.Avatar.MediaID == "" {
		return ""
	}
	m, err := ui.cfg.Commands.LoadMedia(ctx, u.Avatar.MediaID)
	if err != nil {
		return ""
	}
	for _, r := range m.Renditions {
		if r.Name == media.RenditionSmall {
			if ext := media.ExtensionOf(r.Type); ext != "" {
				return "/media/" + u.Avatar.Hash + "/" + r.Name + "." + ext
			}
		}
	}
	return ""
}
