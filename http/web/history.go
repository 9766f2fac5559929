package web

import (
	"context"
	"fmt"
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
	revSeek, ok1 := historySeek(c, "rev")
	evSeek, ok2 := historySeek(c, "ev")
	if !ok1 || !ok2 {
		ui.renderError(c, http.StatusBadRequest, "This page of the history does not exist. Start again from the newest entries.")
		return
	}
	view, err := ui.historyView(c, post, revSeek, evSeek)
	if err != nil {
		ui.fail(c, err)
		return
	}
	p := ui.newPage(c, "History: "+post.Title)
	p.MainWide = true
	p.Data["Post"] = post
	p.Data["RevisionRows"] = view.revisionRows
	p.Data["TimelineItems"] = view.timelineItems
	p.Data["RevisionPages"] = historyLinks(c, "rev", view.revs, func(r queries.Revision) uint64 { return uint64(r.Revision) })
	p.Data["EventPages"] = historyLinks(c, "ev", view.timeline, func(e queries.HistoryEntry) uint64 { return e.Version })
	p.Data["CanEdit"] = canEditPost(actorOf(c), post)
	p.Data["Now"] = time.Now().UTC().Format("2006-01-02T15:04")
	ui.render(c, http.StatusOK, "history", p)
}

// historyWindow is how many revisions and timeline events the history page
// shows at once.
const historyWindow = 50

// historyView is the part of a history page that is the same for everyone
// allowed to see the post's history: one page of its revisions and one of
// its timeline, rendered. A long-lived post has thousands of revisions and
// events; the page shows historyWindow of each, read by keyset (one index
// range scan each, however long the history).
type historyView struct {
	revs          queries.Window[queries.Revision]
	timeline      queries.Window[queries.HistoryEntry]
	revisionRows  template.HTML
	timelineItems template.HTML
}

// size estimates the bytes v holds.
func (v *historyView) size() int {
	const perItem = 512 // a row's strings and times
	return len(v.revisionRows) + len(v.timelineItems) + perItem*(len(v.revs.Items)+len(v.timeline.Items))
}

// historyFragments is what the revision rows and the timeline items of a
// history page show (history_rows.go).
type historyFragments struct {
	Post      queries.Post
	Revisions []queries.Revision
	Timeline  []queries.HistoryEntry
	// From and To are the revisions the compare form starts with.
	From, To int
}

// historyView returns the history view of post at the pages revSeek and
// evSeek. The caller has checked that the actor may see it. Views are
// cached like public pages (cache.go), and shared by everyone allowed to see
// the history: they depend only on the read models (and on post's id and
// current revision, which the key holds), never on who looks. A cached view
// saves two round trips and the rendering of a hundred rows.
func (ui *UI) historyView(c *gin.Context, post queries.Post, revSeek, evSeek queries.Seek) (*historyView, error) {
	build := func(ctx context.Context) (*historyView, error) {
		revs, err := ui.cfg.Reader.SeekRevisions(ctx, post.ID, revSeek)
		if err != nil {
			return nil, err
		}
		timeline, err := ui.cfg.Reader.SeekHistory(ctx, post.ID, evSeek)
		if err != nil {
			return nil, err
		}
		v := &historyView{revs: revs, timeline: timeline}
		data := historyFragments{Post: post, Revisions: revs.Items, Timeline: timeline.Items}
		if n := len(revs.Items); n > 1 {
			data.From, data.To = revs.Items[n-2].Revision, revs.Items[n-1].Revision
		}
		v.revisionRows, v.timelineItems = revisionRows(data), timelineItems(data)
		return v, nil
	}
	if ui.histories == nil {
		return build(c.Request.Context())
	}
	key := fmt.Sprintf("%s %d %t %d %t %d", post.ID, post.Revision, revSeek.Backward, revSeek.Bound, evSeek.Backward, evSeek.Bound)
	return ui.histories.Get(key, func() (*historyView, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), publicBuildTimeout)
		defer cancel()
		return build(ctx)
	})
}

// historySeek reads the page of one list of the history page from the query
// parameters named after prefix: <prefix>_before=<key> pages back from key,
// <prefix>_after=<key> forward from it (0: the oldest page), neither is the
// newest page. It reports false for malformed or contradictory parameters.
func historySeek(c *gin.Context, prefix string) (queries.Seek, bool) {
	seek := queries.Seek{Limit: historyWindow, Backward: true}
	before, hasBefore := c.GetQuery(prefix + "_before")
	after, hasAfter := c.GetQuery(prefix + "_after")
	switch {
	case hasBefore && hasAfter:
		return seek, false
	case hasBefore:
		b, err := strconv.ParseUint(before, 10, 64)
		if err != nil || b == 0 {
			return seek, false
		}
		seek.Bound = b
	case hasAfter:
		a, err := strconv.ParseUint(after, 10, 64)
		if err != nil {
			return seek, false
		}
		seek.Backward, seek.Bound = false, a
	}
	return seek, true
}

// pageLinks are the paging links of one list of the history page, "" for
// those that lead nowhere.
type pageLinks struct {
	Newest, Newer, Older, Oldest string
}

// historyLinks returns the links to the pages around w in the list named
// prefix; they keep the other list's page.
func historyLinks[T any](c *gin.Context, prefix string, w queries.Window[T], key func(T) uint64) pageLinks {
	link := func(param string, v uint64) string {
		q := c.Request.URL.Query()
		q.Del(prefix + "_before")
		q.Del(prefix + "_after")
		q.Del("msg")
		if param != "" {
			q.Set(prefix+"_"+param, strconv.FormatUint(v, 10))
		}
		if len(q) == 0 {
			return c.Request.URL.Path
		}
		return c.Request.URL.Path + "?" + q.Encode()
	}
	var l pageLinks
	if w.Newer {
		l.Newest = link("", 0)
		if len(w.Items) > 0 {
			l.Newer = link("after", key(w.Items[len(w.Items)-1]))
		}
	}
	if w.Older {
		l.Oldest = link("after", 0)
		if len(w.Items) > 0 {
			l.Older = link("before", key(w.Items[0]))
		}
	}
	return l
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
