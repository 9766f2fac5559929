package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/domain"
)

//go:embed templates
var templateFS embed.FS

// pageSet holds one parsed template per page, each the layout plus the page.
type pageSet struct {
	pages map[string]*template.Template
}

// parsePages parses templates/layout/*.html once and, for every
// templates/pages/<name>.html, a clone of it with that page.
func parsePages(funcs template.FuncMap) (*pageSet, error) {
	base, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return nil, fmt.Errorf("list pages: %w", err)
	}
	set := &pageSet{pages: map[string]*template.Template{}}
	for _, f := range files {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		set.pages[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return set, nil
}

// page is what every template receives.
type page struct {
	Title    string
	Site     string
	BaseURL  string
	Path     string
	Actor    domain.Actor
	User     *domain.User // the signed-in user, nil when anonymous
	CSRF     string
	Flash    string
	Error    string
	Fields   map[string][]string
	Status   int
	Year     int
	Data     map[string]any
	MainWide bool
	// ErrorPage marks the error page (which shows Error itself).
	ErrorPage bool
	// Q is the search query shown in the header.
	Q string
	// Avatar is the URL of the signed-in user's small profile picture.
	Avatar string
	// HasMedia tells whether the media library is available.
	HasMedia bool
}

// flashes maps the msg query parameter of a redirect to a message.
var flashes = map[string]string{
	"saved":       "Saved.",
	"created":     "Draft created.",
	"submitted":   "Submitted for review.",
	"changes":     "Changes requested; the post is back in draft.",
	"published":   "Published.",
	"scheduled":   "Scheduled.",
	"unpublished": "Unpublished; the post is back in draft.",
	"archived":    "Archived.",
	"deleted":     "Deleted.",
	"restored":    "Restored.",
	"reverted":    "Revision restored as a new revision.",
	"profile":     "Profile saved.",
	"password":    "Password changed.",
	"role":        "Role changed.",
	"deactivated": "Account deactivated.",
	"reactivated": "Account reactivated.",
	"welcome":     "Welcome! You are signed in.",
	"signedout":   "You are signed out.",
	"sessions":    "Every other sign-in of your account has ended.",
	"nochanges":   "Nothing changed.",
	"uploaded":    "Uploaded.",
	"avatar":      "Profile picture updated.",
}

// newPage returns the page data for c.
func (ui *UI) newPage(c *gin.Context, title string) *page {
	p := &page{Title: title, Site: ui.cfg.SiteName, BaseURL: ui.cfg.BaseURL, Path: c.Request.URL.Path,
		Actor: actorOf(c), CSRF: c.GetString(ctxCSRF), Year: time.Now().Year(), Data: map[string]any{}}
	if u, ok := c.Get(ctxUser); ok {
		p.User, _ = u.(*domain.User)
	}
	p.HasMedia = ui.cfg.Media != nil
	if m := c.Query("msg"); m != "" {
		p.Flash = flashes[m]
	}
	return p
}

// bufferPool recycles the buffers pages are rendered into.
var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer is the largest buffer kept for reuse; the rare bigger
// page does not pin its memory.
const maxPooledBuffer = 1 << 20

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	bufferPool.Put(b)
}

// execute renders page name with status into buf.
func (ui *UI) execute(buf *bytes.Buffer, name string, status int, p *page) error {
	t, ok := ui.pages.pages[name]
	if !ok {
		return fmt.Errorf("render page %q: no such page", name)
	}
	p.Status = status
	if err := t.ExecuteTemplate(buf, "layout", p); err != nil {
		return fmt.Errorf("render page %q: %w", name, err)
	}
	return nil
}

// renderBytes renders page name with status into a new slice.
func (ui *UI) renderBytes(name string, status int, p *page) ([]byte, error) {
	buf := getBuffer()
	defer putBuffer(buf)
	if err := ui.execute(buf, name, status, p); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// render executes page name with status.
func (ui *UI) render(c *gin.Context, status int, name string, p *page) {
	buf := getBuffer()
	defer putBuffer(buf)
	if err := ui.execute(buf, name, status, p); err != nil {
		ui.log.Error("web: render page", "page", name, "err", err)
		if name != "error" {
			ui.renderError(c, http.StatusInternalServerError, "")
			return
		}
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("Internal error"))
		c.Abort()
		return
	}
	ui.writeHTML(c, status, buf.Bytes())
}

// writeHTML sends a rendered page. Pages are never stored by browsers or
// shared caches: most depend on the session.
func (ui *UI) writeHTML(c *gin.Context, status int, body []byte) {
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", body)
	c.Abort()
}

// errorPage builds the page of an error status.
func (ui *UI) errorPage(c *gin.Context, status int, msg string) *page {
	titles := map[int]string{
		http.StatusBadRequest:          "Bad request",
		http.StatusForbidden:           "Access denied",
		http.StatusNotFound:            "Page not found",
		http.StatusConflict:            "Conflict",
		http.StatusUnprocessableEntity: "Invalid input",
		http.StatusTooManyRequests:     "Too many requests",
		http.StatusServiceUnavailable:  "Temporarily unavailable",
	}
	texts := map[int]string{
		http.StatusForbidden:          "You do not have permission to do this.",
		http.StatusNotFound:           "There is nothing at this address. It may have been moved or deleted.",
		http.StatusServiceUnavailable: "The site is busy catching up. Please try again in a moment.",
	}
	title, ok := titles[status]
	if !ok {
		title = "Something went wrong"
	}
	if msg == "" {
		msg = texts[status]
		if msg == "" {
			msg = "An unexpected error happened. It has been logged; please try again."
		}
	}
	p := ui.newPage(c, title)
	p.Error = msg
	p.ErrorPage = true
	p.Flash = ""
	return p
}

// renderError renders the friendly error page for status.
func (ui *UI) renderError(c *gin.Context, status int, msg string) {
	ui.render(c, status, "error", ui.errorPage(c, status, msg))
}

// statusOf maps a domain error kind to an HTTP status.
func statusOf(k domain.Kind) int {
	switch k {
	case domain.KindInvalid:
		return http.StatusUnprocessableEntity
	case domain.KindNotFound:
		return http.StatusNotFound
	case domain.KindConflict:
		return http.StatusConflict
	case domain.KindForbidden:
		return http.StatusForbidden
	case domain.KindUnauthenticated:
		return http.StatusUnauthorized
	case domain.KindPrecondition:
		return http.StatusPreconditionRequired
	case domain.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case domain.KindRateLimited:
		return http.StatusTooManyRequests
	case domain.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail renders the error page for err: domain errors with their own
// message, anything else as a logged 500 without details.
func (ui *UI) fail(c *gin.Context, err error) {
	var de *domain.Error
	if errors.As(err, &de) && de.Kind != domain.KindInternal {
		ui.renderError(c, statusOf(de.Kind), de.Message)
		return
	}
	ui.log.Error("web: request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	ui.renderError(c, http.StatusInternalServerError, "")
}

// fieldErrors returns the per-field messages and the message of a
// KindInvalid error, or false for any other error.
func fieldErrors(err error) (map[string][]string, string, bool) {
	var de *domain.Error
	if errors.As(err, &de) && de.Kind == domain.KindInvalid && len(de.Fields) > 0 {
		return de.Fields, de.Message, true
	}
	return nil, "", false
}

// userMessage returns the message of a user-facing domain error (conflicts,
// forbidden transitions…), or false when err should fail the request.
func userMessage(err error) (string, bool) {
	var de *domain.Error
	if errors.As(err, &de) && (de.Kind == domain.KindConflict || de.Kind == domain.KindInvalid || de.Kind == domain.KindRateLimited) {
		if de.Kind == domain.KindInvalid && len(de.Fields) > 0 {
			return "Please correct the highlighted fields.", true
		}
		return de.Message, true
	}
	return "", false
}

// redirect answers a POST with 303 See Other to target with a flash message.
func redirect(c *gin.Context, target, msg string) {
	if msg != "" {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + "msg=" + url.QueryEscape(msg)
	}
	c.Redirect(http.StatusSeeOther, target)
	c.Abort()
}

// funcs are the template functions.
func (ui *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": ui.assetURL,
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2 Jan 2006")
		},
		"datetime": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(dateTimeLayout)
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"deref": func(t *time.Time) time.Time {
			if t == nil {
				return time.Time{}
			}
			return *t
		},
		"pathEscape": url.PathEscape,
		// query builds a "?k=v&…" link from pairs (values are escaped).
		"query": func(kv ...string) template.URL {
			v := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] != "" {
					v.Set(kv[i], kv[i+1])
				}
			}
			return template.URL("?" + v.Encode()) //nolint:gosec // escaped by url.Values
		},
		"statusClass": statusClass,
		"label":       label,
		"join":        strings.Join,
		"add":         func(a, b int) int { return a + b },
		"canWrite":    func(a domain.Actor) bool { return a.Role.CanWritePosts() },
		"canDesk":     func(a domain.Actor) bool { return canUseDesk(a.Role) },
		"canAudit":    func(a domain.Actor) bool { return a.Role.CanAudit() },
		"canAdmin":    func(a domain.Actor) bool { return a.Role.CanManageUsers() },
		"canPublish":  func(a domain.Actor) bool { return a.Role.CanEditAnyPost() },
		"active":      func(p *page, prefix string) bool { return p.Path == prefix || strings.HasPrefix(p.Path, prefix+"/") },
		"fieldErr": func(p *page, name string) string {
			return strings.Join(p.Fields[name], " ")
		},
		"sideData": func(rows []sideRow, oldLabel, newLabel string) map[string]any {
			return map[string]any{"Rows": rows, "Old": oldLabel, "New": newLabel}
		},
		"wfData": func(p *page, f editorForm, action, label, class string) map[string]any {
			return map[string]any{"CSRF": p.CSRF, "Form": f, "Action": action, "Label": label, "Class": class}
		},
		"name": displayName,
	}
}

// dateTimeLayout is how pages show an instant (the "datetime" function).
const dateTimeLayout = "2 Jan 2006 15:04:05 UTC"

// displayName is how pages name a user (the "name" function): the display
// name, else the username, else the id (e.g. "system").
func displayName(id, username, display string) string {
	switch {
	case display != "":
		return display
	case username != "":
		return username
	}
	return id
}

// statusClass is the Bootstrap badge class of a post status.
func statusClass(s domain.PostStatus) string {
	switch s {
	case domain.StatusPublished:
		return "text-bg-success"
	case domain.StatusInReview:
		return "text-bg-warning"
	case domain.StatusScheduled:
		return "text-bg-info"
	case domain.StatusDeleted:
		return "text-bg-danger"
	case domain.StatusArchived:
		return "text-bg-dark"
	}
	return "text-bg-secondary"
}

// label turns an identifier like "in_review" into "in review".
func label(s any) string { return strings.ReplaceAll(fmt.Sprint(s), "_", " ") }
