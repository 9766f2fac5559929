package web

import (
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/projections"
	"github.com/palimpsest-cms/palimpsest/queries"
	"github.com/palimpsest-cms/palimpsest/textdiff"
)

// sideRow is one row of a side-by-side diff; a nil side is blank.
type sideRow struct {
	Hunk        bool // a hunk header row
	Header      string
	Left, Right *textdiff.Line
	LeftNo      int
	RightNo     int
}

// sideBySide pairs the lines of hunks: context on both sides, each run of
// deletions next to the insertions that follow it.
func sideBySide(hunks []textdiff.Hunk) []sideRow {
	var rows []sideRow
	for _, h := range hunks {
		rows = append(rows, sideRow{Hunk: true, Header: "@@ -" + strconv.Itoa(h.OldStart) + "," + strconv.Itoa(h.OldLines) +
			" +" + strconv.Itoa(h.NewStart) + "," + strconv.Itoa(h.NewLines) + " @@"})
		oldNo, newNo := h.OldStart, h.NewStart
		lines := h.Lines
		for i := 0; i < len(lines); {
			if lines[i].Kind == textdiff.KindContext {
				rows = append(rows, sideRow{Left: &lines[i], Right: &lines[i], LeftNo: oldNo, RightNo: newNo})
				oldNo++
				newNo++
				i++
				continue
			}
			var dels, ins []*textdiff.Line
			for i < len(lines) && lines[i].Kind == textdiff.KindDelete {
				dels = append(dels, &lines[i])
				i++
			}
			for i < len(lines) && lines[i].Kind == textdiff.KindInsert {
				ins = append(ins, &lines[i])
				i++
			}
			for k := 0; k < max(len(dels), len(ins)); k++ {
				r := sideRow{}
				if k < len(dels) {
					r.Left, r.LeftNo = dels[k], oldNo
					oldNo++
				}
				if k < len(ins) {
					r.Right, r.RightNo = ins[k], newNo
					newNo++
				}
				rows = append(rows, r)
			}
		}
	}
	return rows
}

// historyPost loads the post of c from the read model and checks that the
// actor may see its history: its author, or a reader of everything.
func (ui *UI) historyPost(c *gin.Context) (queries.Post, bool) {
	post, err := ui.cfg.Reader.GetPost(c.Request.Context(), c.Param("id"))
	if err != nil {
		ui.fail(c, err)
		return post, false
	}
	a := actorOf(c)
	if !a.Role.CanReadAll() && (a.ID != post.Author.ID || !a.Role.CanWritePosts()) {
		ui.renderError(c, http.StatusForbidden, "Only the post's author, editors, auditors and admins may see its history.")
		return post, false
	}
	return post, true
}

// canEditPost reports whether a may change post (for showing buttons; the
// command decides).
func canEditPost(a domain.Actor, post queries.Post) bool {
	return a.Role.CanEditAnyPost() || (a.Role.CanWritePosts() && a.ID == post.Author.ID)
}

func (ui *UI) history(c *gin.Context) {
	post, ok := ui.historyPost(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	timeline, err := ui.cfg.Reader.ListHistory(ctx, post.ID)
	if err != nil {
		ui.fail(c, err)
		return
	}
	var revs []queries.Revision
	cursor := ""
	for {
		pg, err := ui.cfg.Reader.ListRevisions(ctx, post.ID, queries.MaxLimit, cursor)
		if err != nil {
			ui.fail(c, err)
			return
		}
		revs = append(revs, pg.Items...)
		if pg.NextCursor == nil || len(revs) >= 1000 {
			break
		}
		cursor = *pg.NextCursor
	}
	// A long-lived post has thousands of entries; rendering them all made a
	// megabyte page. Show the newest historyWindow of each, with links to
	// older ones.
	revs, olderRev := windowBefore(revs, c.Query("rev_before"), func(r queries.Revision) uint64 { return uint64(r.Revision) })
	timeline, olderEv := windowBefore(timeline, c.Query("ev_before"), func(e queries.HistoryEntry) uint64 { return e.Version })
	p := ui.newPage(c, "History: "+post.Title)
	p.MainWide = true
	p.Data["Post"] = post
	p.Data["Timeline"] = timeline
	p.Data["Revisions"] = revs
	p.Data["OlderRevisions"] = olderRev
	p.Data["OlderEvents"] = olderEv
	p.Data["Paged"] = c.Query("rev_before") != "" || c.Query("ev_before") != ""
	p.Data["CanEdit"] = canEditPost(actorOf(c), post)
	p.Data["Now"] = time.Now().UTC().Format("2006-01-02T15:04")
	if n := len(revs); n > 1 {
		p.Data["From"], p.Data["To"] = revs[n-2].Revision, revs[n-1].Revision
	}
	ui.render(c, http.StatusOK, "history", p)
}

// historyWindow is how many revisions and timeline events the history page
// shows at once.
const historyWindow = 50

// windowBefore returns the newest historyWindow items (kept oldest first)
// whose key is below before (all items when before is empty or invalid),
// and the key to ask for the next older window, 0 when there is none.
func windowBefore[T any](items []T, before string, key func(T) uint64) ([]T, uint64) {
	if b, err := strconv.ParseUint(before, 10, 64); err == nil && b > 0 {
		n := 0
		for n < len(items) && key(items[n]) < b {
			n++
		}
		items = items[:n]
	}
	if len(items) <= historyWindow {
		return items, 0
	}
	items = items[len(items)-historyWindow:]
	return items, key(items[0])
}

func (ui *UI) diff(c *gin.Context) {
	post, ok := ui.historyPost(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	from, err1 := strconv.Atoi(c.Query("from"))
	to, err2 := strconv.Atoi(c.Query("to"))
	if err1 != nil || err2 != nil {
		ui.renderError(c, http.StatusBadRequest, "Pick two revisions to compare.")
		return
	}
	a, err := ui.cfg.Reader.GetRevision(ctx, post.ID, from)
	if err != nil {
		ui.fail(c, err)
		return
	}
	b, err := ui.cfg.Reader.GetRevision(ctx, post.ID, to)
	if err != nil {
		ui.fail(c, err)
		return
	}
	hunks := textdiff.Lines(a.Body, b.Body, 3)
	added, removed := textdiff.Tags(a.Tags, b.Tags)
	p := ui.newPage(c, "Diff: "+post.Title)
	p.MainWide = true
	p.Data["Post"] = post
	p.Data["A"], p.Data["B"] = a, b
	p.Data["TitleDiff"] = textdiff.Words(a.Title, b.Title)
	p.Data["ExcerptDiff"] = textdiff.Words(a.Excerpt, b.Excerpt)
	p.Data["Hunks"] = hunks
	p.Data["Side"] = sideBySide(hunks)
	p.Data["TagsAdded"], p.Data["TagsRemoved"] = added, removed
	p.Data["View"] = c.DefaultQuery("view", "side")
	ui.render(c, http.StatusOK, "diff", p)
}

func (ui *UI) revision(c *gin.Context) {
	post, ok := ui.historyPost(c)
	if !ok {
		return
	}
	n, err := strconv.Atoi(c.Param("n"))
	if err != nil {
		ui.renderError(c, http.StatusNotFound, "")
		return
	}
	rev, err := ui.cfg.Reader.GetRevision(c.Request.Context(), post.ID, n)
	if err != nil {
		ui.fail(c, err)
		return
	}
	p := ui.newPage(c, "Revision "+strconv.Itoa(n)+": "+rev.Title)
	p.Data["Post"] = post
	p.Data["Rev"] = rev
	p.Data["Body"] = template.HTML(projections.RenderMarkdown(rev.Body)) //nolint:gosec // sanitized
	p.Data["CanEdit"] = canEditPost(actorOf(c), post) && n != post.Revision
	ui.render(c, http.StatusOK, "revision", p)
}

func (ui *UI) revert(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	n, _ := strconv.Atoi(c.PostForm("revision"))
	version, _ := strconv.ParseUint(c.PostForm("version"), 10, 64)
	res, err := ui.cfg.Commands.RevertPost(ctx, ui.meta(c), commands.RevertPost{PostID: id, ExpectedVersion: version, Revision: n,
		Note: c.PostForm("note")})
	if err != nil {
		if msg, ok := userMessage(err); ok {
			if domain.CodeOf(err) == "version_conflict" {
				msg = "The post changed since you opened this page; reload the history and try again."
			}
			ui.renderError(c, statusOf(domain.KindOf(err)), msg)
			return
		}
		ui.fail(c, err)
		return
	}
	ui.wait(ctx, res.Position)
	redirect(c, "/desk/posts/"+id+"/history", "reverted")
}

// postAt shows the post as it was at a date and time (UTC) or after a
// stream version.
func (ui *UI) postAt(c *gin.Context) {
	post, ok := ui.historyPost(c)
	if !ok {
		return
	}
	var asOf time.Time
	version, _ := strconv.ParseUint(c.Query("version"), 10, 64)
	if version == 0 {
		t, err := time.ParseInLocation("2006-01-02T15:04", c.Query("t"), time.UTC)
		if err != nil {
			t, err = time.Parse(time.RFC3339, c.Query("t"))
		}
		if err != nil {
			ui.renderError(c, http.StatusBadRequest, "Give a date and time (UTC).")
			return
		}
		// The picker has minute precision: include the whole minute.
		asOf = t.Add(time.Minute - time.Nanosecond)
	}
	then, err := ui.cfg.Commands.PostAt(c.Request.Context(), post.ID, asOf, version)
	if err != nil {
		ui.fail(c, err)
		return
	}
	title := "As of " + asOf.Format("2 Jan 2006 15:04") + ": " + then.Content.Title
	if version > 0 {
		title = "After event " + strconv.FormatUint(version, 10) + ": " + then.Content.Title
	}
	p := ui.newPage(c, title)
	p.Data["Post"] = post
	p.Data["Then"] = then
	p.Data["AsOf"] = asOf
	p.Data["Version"] = version
	p.Data["Body"] = template.HTML(projections.RenderMarkdown(then.Content.Body)) //nolint:gosec // sanitized
	ui.render(c, http.StatusOK, "postat", p)
}
