package web

import (
	"bytes"
	"html"
	"html/template"
	"net/url"
	"strconv"
	"time"

	"github.com/palimpsest-cms/palimpsest/queries"
)

// The rows of the history page (50 revisions, 50 timeline events) are
// written here rather than by html/template: through the template engine
// they took about 2.3 ms of CPU per page (some twenty reflective calls per
// row: an escaper per action, name, datetime, eq…), most of an uncached
// history page, and here take a few microseconds. The markup is fixed; every
// value from the read models is escaped with html.EscapeString, which is
// complete for text and for double-quoted attribute values, and the only
// values in URLs are the post's id (path-escaped) and numbers.

// htmlWriter writes HTML into a buffer.
type htmlWriter struct{ b *bytes.Buffer }

func (w htmlWriter) raw(s string)           { w.b.WriteString(s) }
func (w htmlWriter) text(s string)          { w.b.WriteString(html.EscapeString(s)) }
func (w htmlWriter) int(n int)              { w.b.Write(strconv.AppendInt(w.b.AvailableBuffer(), int64(n), 10)) }
func (w htmlWriter) uint(n uint64)          { w.b.Write(strconv.AppendUint(w.b.AvailableBuffer(), n, 10)) }
func (w htmlWriter) name(u queries.UserRef) { w.text(displayName(u.ID, u.Username, u.DisplayName)) }

// time writes a <time> element: the instant in ISO 8601 and as the
// "datetime" template function shows it.
func (w htmlWriter) time(t time.Time) {
	w.raw(`<time datetime="`)
	w.b.Write(t.UTC().AppendFormat(w.b.AvailableBuffer(), time.RFC3339))
	w.raw(`">`)
	if !t.IsZero() {
		w.b.Write(t.UTC().AppendFormat(w.b.AvailableBuffer(), dateTimeLayout))
	}
	w.raw(`</time>`)
}

// revisionRows renders the rows of the revision table of the history page.
func revisionRows(d historyFragments) template.HTML {
	buf := getBuffer()
	defer putBuffer(buf)
	w := htmlWriter{buf}
	postPath := "/desk/posts/" + url.PathEscape(d.Post.ID)
	for _, r := range d.Revisions {
		radio := func(name, label string, checked bool) {
			w.raw(`<td><input class="form-check-input" type="radio" name="` + name + `" value="`)
			w.int(r.Revision)
			w.raw(`" id="` + name + `-`)
			w.int(r.Revision)
			w.raw(`" aria-label="Compare ` + label + ` revision `)
			w.int(r.Revision)
			if checked {
				w.raw(`" checked></td>`)
			} else {
				w.raw(`"></td>`)
			}
		}
		w.raw("\n      <tr>\n        ")
		radio("from", "from", r.Revision == d.From)
		w.raw("\n        ")
		radio("to", "to", r.Revision == d.To)
		w.raw("\n        <td>")
		w.int(r.Revision)
		if r.Revision == d.Post.Revision {
			w.raw(` <span class="badge text-bg-primary">current</span>`)
		}
		w.raw("</td>\n        <td>")
		w.text(r.Title)
		if r.Note != "" {
			w.raw(`<div class="small text-body-secondary">“`)
			w.text(r.Note)
			w.raw(`”</div>`)
		}
		w.raw("</td>\n        <td class=\"small\">")
		w.text(r.Kind)
		if r.RevertedFrom != nil {
			w.raw(" from ")
			w.int(*r.RevertedFrom)
		}
		w.raw("</td>\n        <td class=\"small\">")
		w.name(r.Editor)
		w.raw("</td>\n        <td class=\"small\">")
		w.time(r.At)
		w.raw("</td>\n        <td><a class=\"btn btn-sm btn-link\" href=\"" + postPath + "/revisions/")
		w.int(r.Revision)
		w.raw(`">View<span class="visually-hidden"> revision `)
		w.int(r.Revision)
		w.raw("</span></a></td>\n      </tr>")
	}
	return template.HTML(buf.String()) //nolint:gosec // every value escaped above
}

// timelineItems renders the items of the timeline list of the history page.
func timelineItems(d historyFragments) template.HTML {
	buf := getBuffer()
	defer putBuffer(buf)
	w := htmlWriter{buf}
	postPath := "/desk/posts/" + url.PathEscape(d.Post.ID)
	for _, e := range d.Timeline {
		w.raw("\n    <li class=\"timeline-item\">\n      <div class=\"fw-semibold\">")
		w.text(e.Type)
		w.raw(` <span class="small text-body-secondary fw-normal">v`)
		w.uint(e.Version)
		w.raw("</span></div>\n")
		if e.Summary != "" {
			w.raw(`      <div class="small">`)
			w.text(e.Summary)
			w.raw("</div>\n")
		}
		w.raw(`      <div class="small text-body-secondary">`)
		w.name(e.Actor)
		w.raw(" (")
		w.text(string(e.ActorRole))
		w.raw(") · ")
		w.time(e.At)
		w.raw(` · <a href="` + postPath + `/at?version=`)
		w.uint(e.Version)
		w.raw("\">state after</a></div>\n    </li>")
	}
	return template.HTML(buf.String()) //nolint:gosec // every value escaped above
}
