package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/media"
	"github.com/palimpsest-cms/palimpsest/projections"
	"github.com/palimpsest-cms/palimpsest/queries"
	"github.com/palimpsest-cms/palimpsest/textdiff"
)

// deskSection is one list of the dashboard.
type deskSection struct {
	Title string
	Empty string
	Posts []queries.PostSummary
}

func (ui *UI) dashboard(c *gin.Context) {
	ctx := c.Request.Context()
	a := actorOf(c)
	p := ui.newPage(c, "Editor's desk")
	all := a.Role.CanReadAll()
	username := ""
	if p.User != nil {
		username = p.User.Username
	}
	mine := queries.PostFilter{AuthorID: a.ID, Author: username, IncludeAll: all, Limit: 10}
	others := queries.PostFilter{AuthorID: a.ID, IncludeAll: all, Limit: 10}
	if !all {
		others.Author = username // authors see their own posts only
	}
	type spec struct {
		title, empty string
		f            queries.PostFilter
		status       domain.PostStatus
	}
	specs := []spec{
		{"My drafts", "No drafts. Start writing!", mine, domain.StatusDraft},
		{"In review", "Nothing waits for review.", others, domain.StatusInReview},
		{"Scheduled", "Nothing is scheduled.", others, domain.StatusScheduled},
		{"Recently published", "Nothing published yet.", others, domain.StatusPublished},
	}
	if username == "" || !a.Role.CanWritePosts() {
		specs = specs[1:]
	}
	var sections []deskSection
	for _, s := range specs {
		s.f.Status = s.status
		pg, err := ui.cfg.Reader.ListPosts(ctx, s.f)
		if err != nil {
			ui.fail(c, err)
			return
		}
		sections = append(sections, deskSection{Title: s.title, Empty: s.empty, Posts: pg.Items})
	}
	p.Data["Sections"] = sections
	activity, err := ui.cfg.Reader.ListAudit(ctx, queries.AuditFilter{Actor: a.ID, Stream: domain.PostStreamPrefix, Limit: 10})
	if err != nil {
		ui.fail(c, err)
		return
	}
	p.Data["Activity"] = activity.Items
	ui.render(c, http.StatusOK, "desk", p)
}

// editorForm is the content of the editor.
type editorForm struct {
	ID       string
	Title    string
	Slug     string
	Excerpt  string
	Tags     string
	Body     string
	Note     string
	Version  uint64
	Revision int
	Status   domain.PostStatus
}

func formFromPost(p *domain.Post) editorForm {
	return editorForm{ID: p.ID, Title: p.Content.Title, Slug: p.Slug, Excerpt: p.Content.Excerpt,
		Tags: strings.Join(p.Content.Tags, ", "), Body: p.Content.Body, Version: p.Version, Revision: p.Revision, Status: p.Status}
}

// formFromRequest reads the editor's fields from a POST.
func formFromRequest(c *gin.Context) editorForm {
	v, _ := strconv.ParseUint(c.PostForm("version"), 10, 64)
	return editorForm{ID: c.Param("id"), Title: c.PostForm("title"), Slug: strings.TrimSpace(c.PostForm("slug")),
		Excerpt: c.PostForm("excerpt"), Tags: c.PostForm("tags"), Body: normalizeNewlines(c.PostForm("body")),
		Note: c.PostForm("note"), Version: v}
}

// normalizeNewlines turns the CRLF line ends of form posts into "\n".
func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// splitTags parses a comma-separated tag list.
func splitTags(s string) []string {
	tags := []string{}
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

// renderEditor renders the editor page.
func (ui *UI) renderEditor(c *gin.Context, status int, p *page, form editorForm, post *domain.Post) {
	if form.ID == "" {
		p.Title = "New post"
	} else {
		p.Title = "Edit: " + form.Title
	}
	p.Data["Form"] = form
	p.MainWide = true
	if post != nil {
		a := actorOf(c)
		p.Data["Post"] = post
		p.Data["Actions"] = workflowActions(a, post)
		p.Data["Locked"] = post.Status == domain.StatusDeleted || post.Status == domain.StatusArchived
		if _, ok := p.Data["Feature"]; !ok {
			fv, err := ui.featureImageView(c, post, post.FeatureImage.MediaID, post.FeatureImage.Alt)
			if err != nil {
				ui.fail(c, err)
				return
			}
			p.Data["Feature"] = fv
		}
	}
	ui.render(c, status, "editor", p)
}

// workflowActions lists the workflow buttons actor may use on post.
func workflowActions(a domain.Actor, p *domain.Post) map[string]bool {
	editor := a.Role.CanEditAnyPost()
	s := p.Status
	open := s == domain.StatusDraft || s == domain.StatusInReview || s == domain.StatusScheduled
	return map[string]bool{
		"submit":    s == domain.StatusDraft && p.CanEdit(a),
		"changes":   s == domain.StatusInReview && editor,
		"publish":   open && editor,
		"schedule":  open && editor,
		"unpublish": (s == domain.StatusPublished || s == domain.StatusScheduled) && editor,
		"archive":   s != domain.StatusDeleted && s != domain.StatusArchived && editor,
		"delete":    s != domain.StatusDeleted && (editor || (p.CanEdit(a) && s == domain.StatusDraft)),
		"restore":   (s == domain.StatusDeleted || s == domain.StatusArchived) && editor,
	}
}

func (ui *UI) newPost(c *gin.Context) {
	if !actorOf(c).Role.CanWritePosts() {
		ui.renderError(c, http.StatusForbidden, "")
		return
	}
	ui.renderEditor(c, http.StatusOK, ui.newPage(c, "New post"), editorForm{}, nil)
}

func (ui *UI) createPost(c *gin.Context) {
	if !actorOf(c).Role.CanWritePosts() {
		ui.renderError(c, http.StatusForbidden, "")
		return
	}
	form := formFromRequest(c)
	form.ID = ""
	if c.PostForm("action") == "preview" {
		p := ui.newPage(c, "")
		p.Data["Preview"] = template.HTML(projections.RenderMarkdown(form.Body)) //nolint:gosec // sanitized
		ui.renderEditor(c, http.StatusOK, p, form, nil)
		return
	}
	res, err := ui.cfg.Commands.DraftPost(c.Request.Context(), ui.meta(c), commands.DraftPost{
		Title: form.Title, Body: form.Body, Excerpt: form.Excerpt, Tags: splitTags(form.Tags), Slug: form.Slug,
	})
	if err != nil {
		ui.editorError(c, err, form, nil)
		return
	}
	ui.wait(c.Request.Context(), res.Position)
	redirect(c, "/desk/posts/"+res.ID+"/edit", "created")
}

// editorError re-renders the editor with err's message, or fails.
func (ui *UI) editorError(c *gin.Context, err error, form editorForm, post *domain.Post) {
	msg, ok := userMessage(err)
	if !ok {
		ui.fail(c, err)
		return
	}
	p := ui.newPage(c, "")
	p.Fields, _, _ = fieldErrors(err)
	if domain.CodeOf(err) == "slug_taken" {
		p.Fields = map[string][]string{"slug": {"Another post uses this slug."}}
	}
	p.Error = msg
	ui.renderEditor(c, statusOf(domain.KindOf(err)), p, form, post)
}

// loadEditable loads the post of c and checks that the actor may edit it.
func (ui *UI) loadEditable(c *gin.Context) (*domain.Post, bool) {
	post, err := ui.cfg.Commands.LoadPost(c.Request.Context(), c.Param("id"))
	if err != nil {
		ui.fail(c, err)
		return nil, false
	}
	if !post.CanEdit(actorOf(c)) {
		ui.renderError(c, http.StatusForbidden, "Only the post's author, an editor or an admin may edit it.")
		return nil, false
	}
	return post, true
}

func (ui *UI) editPost(c *gin.Context) {
	post, ok := ui.loadEditable(c)
	if !ok {
		return
	}
	ui.renderEditor(c, http.StatusOK, ui.newPage(c, ""), formFromPost(post), post)
}

func (ui *UI) savePost(c *gin.Context) {
	post, ok := ui.loadEditable(c)
	if !ok {
		return
	}
	if c.PostForm("action") == "feature_image" {
		ui.saveFeatureImage(c, post)
		return
	}
	ctx := c.Request.Context()
	form := formFromRequest(c)
	form.Revision, form.Status = post.Revision, post.Status
	switch c.PostForm("action") {
	case "preview":
		p := ui.newPage(c, "")
		p.Data["Preview"] = template.HTML(projections.RenderMarkdown(form.Body)) //nolint:gosec // sanitized
		ui.renderEditor(c, http.StatusOK, p, form, post)
		return
	case "overwrite":
		// A deliberate overwrite after a conflict: expect the version the
		// conflict page showed, so a third save in between still conflicts.
		form.Version, _ = strconv.ParseUint(c.PostForm("current_version"), 10, 64)
	}
	tags := splitTags(form.Tags)
	m := ui.meta(c)
	res, err := ui.cfg.Commands.EditPost(ctx, m, commands.EditPost{PostID: post.ID, ExpectedVersion: form.Version,
		Title: &form.Title, Body: &form.Body, Excerpt: &form.Excerpt, Tags: &tags, Note: form.Note})
	edited := err == nil
	switch {
	case err == nil:
	case domain.CodeOf(err) == "no_changes":
		res = commands.Result{ID: post.ID, Version: form.Version}
	case domain.CodeOf(err) == "version_conflict":
		ui.conflict(c, form, post)
		return
	default:
		ui.editorError(c, err, form, post)
		return
	}
	slugChanged := form.Slug != "" && form.Slug != post.Slug
	if slugChanged {
		sres, err := ui.cfg.Commands.ChangeSlug(ctx, m, commands.ChangeSlug{PostID: post.ID, ExpectedVersion: res.Version, Slug: form.Slug})
		if err != nil {
			if domain.CodeOf(err) == "version_conflict" {
				ui.conflict(c, form, post)
				return
			}
			ui.wait(ctx, res.Position)
			fresh, lerr := ui.cfg.Commands.LoadPost(ctx, post.ID)
			if lerr != nil {
				ui.fail(c, lerr)
				return
			}
			form.Version = fresh.Version
			ui.editorError(c, err, form, fresh)
			return
		}
		res = sres
	}
	ui.wait(ctx, res.Position)
	msg := "saved"
	if !edited && !slugChanged {
		msg = "nochanges"
	}
	redirect(c, "/desk/posts/"+post.ID+"/edit", msg)
}

// conflictInfo describes the save that beat ours.
type conflictInfo struct {
	By        queries.UserRef
	At        time.Time
	Type      string
	Current   editorForm
	TitleDiff []textdiff.Segment
	Hunks     []textdiff.Hunk
	Side      []sideRow
	TagsAdded []string
	TagsGone  []string
}

// conflict re-renders the editor with the user's text, the current version
// (so a deliberate overwrite is possible), who saved in between, when, and
// the diff from the stored text to the user's.
func (ui *UI) conflict(c *gin.Context, form editorForm, stale *domain.Post) {
	ctx := c.Request.Context()
	post, err := ui.cfg.Commands.LoadPost(ctx, stale.ID)
	if err != nil {
		ui.fail(c, err)
		return
	}
	info := conflictInfo{Current: formFromPost(post), Type: "unknown"}
	if events, err := ui.cfg.Commands.PostEvents(ctx, post.ID); err == nil && len(events) > 0 {
		last := events[len(events)-1]
		info.At, info.Type = last.Metadata.OccurredAt, last.Type
		info.By = ui.userRef(ctx, last.Metadata.ActorID)
	}
	info.TitleDiff = textdiff.Words(post.Content.Title, form.Title)
	info.Hunks = textdiff.Lines(post.Content.Body, form.Body, 3)
	info.Side = sideBySide(info.Hunks)
	info.TagsAdded, info.TagsGone = textdiff.Tags(post.Content.Tags, splitTags(form.Tags))
	p := ui.newPage(c, "")
	p.Error = "Someone else saved this post while you were editing. Your text is below; review the differences, then overwrite deliberately or reload."
	p.Data["Conflict"] = info
	// The form keeps the stale version, so a plain Save shows the conflict
	// again; only the Overwrite button sends the current one.
	form.Revision, form.Status = post.Revision, post.Status
	ui.renderEditor(c, http.StatusConflict, p, form, post)
}

// userRef names a user by ID for display.
func (ui *UI) userRef(ctx context.Context, id string) queries.UserRef {
	ref := queries.UserRef{ID: id}
	if u, err := ui.cfg.Reader.GetUser(ctx, id); err == nil {
		ref.Username, ref.DisplayName = u.Username, u.DisplayName
	}
	return ref
}

// workflowMessages are the flash keys of workflow actions.
var workflowMessages = map[string]string{
	"submit": "submitted", "changes": "changes", "publish": "published", "schedule": "scheduled",
	"unpublish": "unpublished", "archive": "archived", "delete": "deleted", "restore": "restored",
}

func (ui *UI) workflow(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	version, _ := strconv.ParseUint(c.PostForm("version"), 10, 64)
	ref := commands.PostRef{PostID: id, ExpectedVersion: version}
	m := ui.meta(c)
	action := c.PostForm("action")
	var res commands.Result
	var err error
	switch action {
	case "submit":
		res, err = ui.cfg.Commands.SubmitPost(ctx, m, ref)
	case "changes":
		res, err = ui.cfg.Commands.RequestChanges(ctx, m, commands.RequestChanges{PostID: id, ExpectedVersion: version, Comment: strings.TrimSpace(c.PostForm("comment"))})
	case "publish":
		res, err = ui.cfg.Commands.PublishPost(ctx, m, ref)
	case "schedule":
		at, perr := time.ParseInLocation("2006-01-02T15:04", c.PostForm("publish_at"), time.UTC)
		if perr != nil {
			err = domain.Invalid("invalid_publish_at", "Give the publication date and time (UTC).", map[string][]string{"publish_at": {"must be a date and time"}})
			break
		}
		res, err = ui.cfg.Commands.SchedulePost(ctx, m, commands.SchedulePost{PostID: id, ExpectedVersion: version, PublishAt: at})
	case "unpublish":
		res, err = ui.cfg.Commands.UnpublishPost(ctx, m, commands.UnpublishPost{PostID: id, ExpectedVersion: version, Reason: strings.TrimSpace(c.PostForm("reason"))})
	case "archive":
		res, err = ui.cfg.Commands.ArchivePost(ctx, m, ref)
	case "delete":
		res, err = ui.cfg.Commands.DeletePost(ctx, m, ref)
	case "restore":
		res, err = ui.cfg.Commands.RestorePost(ctx, m, ref)
	default:
		ui.renderError(c, http.StatusBadRequest, "Unknown action.")
		return
	}
	if err != nil {
		ui.workflowError(c, err)
		return
	}
	ui.wait(ctx, res.Position)
	target := "/desk/posts/" + id + "/edit"
	if action == "delete" && !m.Actor.Role.CanEditAnyPost() {
		target = "/desk"
	}
	redirect(c, target, workflowMessages[action])
}

// workflowError shows a refused workflow action on the editor page.
func (ui *UI) workflowError(c *gin.Context, err error) {
	if _, ok := userMessage(err); !ok {
		ui.fail(c, err)
		return
	}
	post, ok := ui.loadEditable(c)
	if !ok {
		return
	}
	p := ui.newPage(c, "")
	p.Error, _ = userMessage(err)
	if domain.CodeOf(err) == "version_conflict" {
		p.Error = "The post changed since you opened it; review its current state and try again."
	}
	p.Fields, _, _ = fieldErrors(err)
	ui.renderEditor(c, statusOf(domain.KindOf(err)), p, formFromPost(post), post)
}

// featureImageField names the radio group of the feature image picker.
const featureImageField = "media_id"

// featurePickerSize is the number of library images the picker shows at once.
const featurePickerSize = 12

// pickerItem is one image of the feature image picker.
type pickerItem struct {
	ID      string
	Thumb   string
	Label   string
	Width   int
	Height  int
	Checked bool
}

// featureConflict describes the change that beat a feature image choice.
type featureConflict struct {
	By   queries.UserRef
	At   time.Time
	Type string
}

// featureImageView is the editor's feature image section.
type featureImageView struct {
	// Current is the post's feature image, nil when it has none.
	Current *pickerItem
	// CurrentAlt is the alternative text the post uses for it.
	CurrentAlt string
	// Items is one page of the media library (Current excluded).
	Items []pickerItem
	// None tells whether "no feature image" is the checked choice.
	None bool
	// Alt is the alternative text in the form.
	Alt string
	// Version is the post version the form expects.
	Version uint64
	// Next and First page the library (without JavaScript).
	Next  string
	First string
	// Conflict is set when the post changed under the user's choice.
	Conflict *featureConflict
}

// has reports whether the picker shows media item id.
func (v *featureImageView) has(id string) bool {
	if v.Current != nil && v.Current.ID == id {
		return true
	}
	for _, it := range v.Items {
		if it.ID == id {
			return true
		}
	}
	return false
}

// thumbOf returns the thumb rendition URL of a stored media item, or "".
func thumbOf(m *domain.Media) string {
	for _, r := range m.Renditions {
		if r.Name == media.RenditionThumb {
			if ext := media.ExtensionOf(r.Type); ext != "" {
				return "/media/" + m.Hash + "/" + r.Name + "." + ext
			}
		}
	}
	return ""
}

// mediaLabel is the accessible name of a media item in the picker.
func mediaLabel(alt string, width, height int) string {
	if alt == "" {
		alt = "Image without alternative text"
	}
	return alt + " (" + strconv.Itoa(width) + "×" + strconv.Itoa(height) + ")"
}

// featureImageView builds the feature image section of post's editor with
// selected (a media ID, "" for none) checked and alt in the text field.
func (ui *UI) featureImageView(c *gin.Context, post *domain.Post, selected, alt string) (*featureImageView, error) {
	ctx := c.Request.Context()
	v := &featureImageView{Version: post.Version, Alt: alt, None: selected == ""}
	if fi := post.FeatureImage; fi.MediaID != "" {
		v.CurrentAlt = fi.Alt
		cur := &pickerItem{ID: fi.MediaID, Label: mediaLabel(fi.Alt, 0, 0), Checked: selected == fi.MediaID}
		if m, err := ui.cfg.Commands.LoadMedia(ctx, fi.MediaID); err == nil {
			cur.Thumb, cur.Width, cur.Height = thumbOf(m), m.Width, m.Height
			cur.Label = mediaLabel(fi.Alt, m.Width, m.Height)
		} else if domain.KindOf(err) != domain.KindNotFound {
			return nil, fmt.Errorf("load feature image: %w", err)
		}
		v.Current = cur
	}
	if ui.cfg.Media == nil {
		return v, nil
	}
	cursor := c.Query("media_cursor")
	pg, err := ui.cfg.Media.ListMedia(ctx, queries.MediaFilter{Cursor: cursor, Limit: featurePickerSize})
	if err != nil {
		return nil, fmt.Errorf("list media for the picker: %w", err)
	}
	for _, m := range pg.Items {
		if v.Current != nil && m.ID == v.Current.ID {
			continue
		}
		v.Items = append(v.Items, pickerItem{ID: m.ID, Thumb: mediaURL(m.Hash, m.Renditions, media.RenditionThumb),
			Label: mediaLabel(m.Alt, m.Width, m.Height), Width: m.Width, Height: m.Height, Checked: m.ID == selected})
	}
	if selected != "" && !v.None && !v.has(selected) {
		// The user's choice from another page of the library (a refused or
		// conflicting submission): keep it visible and checked.
		if m, err := ui.cfg.Commands.LoadMedia(ctx, selected); err == nil && !m.Deleted {
			v.Items = append([]pickerItem{{ID: m.ID, Thumb: thumbOf(m), Label: mediaLabel(m.Alt, m.Width, m.Height),
				Width: m.Width, Height: m.Height, Checked: true}}, v.Items...)
		}
	}
	base := "/desk/posts/" + post.ID + "/edit"
	if pg.NextCursor != nil {
		v.Next = base + "?" + url.Values{"media_cursor": {*pg.NextCursor}}.Encode() + "#feature-image"
	}
	if cursor != "" {
		v.First = base + "#feature-image"
	}
	return v, nil
}

// saveFeatureImage sets (or removes) the post's feature image from the
// editor's picker, then shows the editor again.
func (ui *UI) saveFeatureImage(c *gin.Context, post *domain.Post) {
	ctx := c.Request.Context()
	version, _ := strconv.ParseUint(c.PostForm("version"), 10, 64)
	mediaID, picked := c.GetPostForm(featureImageField)
	mediaID = strings.TrimSpace(mediaID)
	alt := strings.TrimSpace(c.PostForm("alt"))
	if !picked {
		ui.featureError(c, post, mediaID, alt, domain.Invalid("feature_image_required", "Choose an image, or “No feature image”.",
			map[string][]string{featureImageField: {"choose an image"}}))
		return
	}
	res, err := ui.cfg.Commands.SetFeatureImage(ctx, ui.meta(c), commands.SetFeatureImage{
		PostID: post.ID, ExpectedVersion: version, MediaID: mediaID, Alt: alt})
	switch {
	case err == nil:
	case domain.CodeOf(err) == "no_changes":
		redirect(c, "/desk/posts/"+post.ID+"/edit", "nochanges")
		return
	case domain.CodeOf(err) == "version_conflict":
		ui.featureConflict(c, post, mediaID, alt)
		return
	default:
		ui.featureError(c, post, mediaID, alt, err)
		return
	}
	ui.wait(ctx, res.Position)
	redirect(c, "/desk/posts/"+post.ID+"/edit", "saved")
}

// featureError re-renders the editor with a refused feature image choice
// kept, or fails.
func (ui *UI) featureError(c *gin.Context, post *domain.Post, mediaID, alt string, err error) {
	msg, ok := userMessage(err)
	if !ok {
		ui.fail(c, err)
		return
	}
	fv, ferr := ui.featureImageView(c, post, mediaID, alt)
	if ferr != nil {
		ui.fail(c, ferr)
		return
	}
	p := ui.newPage(c, "")
	p.Error = msg
	p.Fields, _, _ = fieldErrors(err)
	p.Data["Feature"] = fv
	ui.renderEditor(c, statusOf(domain.KindOf(err)), p, formFromPost(post), post)
}

// featureConflict shows the editor at the post's current version with the
// user's feature image choice kept, who changed the post in between and
// when, so that submitting again applies the choice deliberately.
func (ui *UI) featureConflict(c *gin.Context, stale *domain.Post, mediaID, alt string) {
	ctx := c.Request.Context()
	post, err := ui.cfg.Commands.LoadPost(ctx, stale.ID)
	if err != nil {
		ui.fail(c, err)
		return
	}
	fv, err := ui.featureImageView(c, post, mediaID, alt)
	if err != nil {
		ui.fail(c, err)
		return
	}
	fv.Conflict = &featureConflict{Type: "unknown"}
	if events, err := ui.cfg.Commands.PostEvents(ctx, post.ID); err == nil && len(events) > 0 {
		last := events[len(events)-1]
		fv.Conflict.At, fv.Conflict.Type = last.Metadata.OccurredAt, last.Type
		fv.Conflict.By = ui.userRef(ctx, last.Metadata.ActorID)
	}
	p := ui.newPage(c, "")
	p.Error = "Someone else changed this post after you opened it. Your feature image choice is kept below; review the post and apply it again."
	p.Data["Feature"] = fv
	ui.renderEditor(c, http.StatusConflict, p, formFromPost(post), post)
}
