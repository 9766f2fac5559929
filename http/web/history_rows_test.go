package web

import (
	"bytes"
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// rowTemplates is the markup of the history rows as html/template wrote it
// before history_rows.go took over (less a space before the radios' ">"
// when unchecked); for plain values both must agree.
const rowTemplates = `{{define "rows"}}{{$p := .Post}}{{$from := .From}}{{$to := .To}}{{range .Revisions}}
      <tr>
        <td><input class="form-check-input" type="radio" name="from" value="{{.Revision}}" id="from-{{.Revision}}" aria-label="Compare from revision {{.Revision}}"{{if eq .Revision $from}} checked{{end}}></td>
        <td><input class="form-check-input" type="radio" name="to" value="{{.Revision}}" id="to-{{.Revision}}" aria-label="Compare to revision {{.Revision}}"{{if eq .Revision $to}} checked{{end}}></td>
        <td>{{.Revision}}{{if eq .Revision $p.Revision}} <span class="badge text-bg-primary">current</span>{{end}}</td>
        <td>{{.Title}}{{with .Note}}<div class="small text-body-secondary">“{{.}}”</div>{{end}}</td>
        <td class="small">{{.Kind}}{{with .RevertedFrom}} from {{.}}{{end}}</td>
        <td class="small">{{name .Editor.ID .Editor.Username .Editor.DisplayName}}</td>
        <td class="small"><time datetime="{{iso .At}}">{{datetime .At}}</time></td>
        <td><a class="btn btn-sm btn-link" href="/desk/posts/{{$p.ID}}/revisions/{{.Revision}}">View<span class="visually-hidden"> revision {{.Revision}}</span></a></td>
      </tr>{{end}}{{end}}
{{define "items"}}{{$p := .Post}}{{range .Timeline}}
    <li class="timeline-item">
      <div class="fw-semibold">{{.Type}} <span class="small text-body-secondary fw-normal">v{{.Version}}</span></div>
{{with .Summary}}      <div class="small">{{.}}</div>
{{end}}      <div class="small text-body-secondary">{{name .Actor.ID .Actor.Username .Actor.DisplayName}} ({{.ActorRole}}) · <time datetime="{{iso .At}}">{{datetime .At}}</time> · <a href="/desk/posts/{{$p.ID}}/at?version={{.Version}}">state after</a></div>
    </li>{{end}}{{end}}`

func historyRowsFixture(title, note, name, summary string) historyFragments {
	at := time.Date(2026, 11, 26, 18, 30, 5, 0, time.UTC)
	from := 1
	d := historyFragments{Post: queries.Post{ID: "0193a2b4-0000-7000-8000-000000000001", Revision: 3}, From: 2, To: 3}
	for n := 1; n <= 3; n++ {
		r := queries.Revision{Revision: n, Title: title, Kind: queries.RevisionEdited, At: at.Add(time.Duration(n) * time.Minute),
			Editor: queries.UserRef{ID: "u1", Username: "ann", DisplayName: name}}
		if n == 2 {
			r.Note, r.Kind, r.RevertedFrom = note, queries.RevisionReverted, &from
		}
		if n == 3 {
			r.Editor = queries.UserRef{ID: "system"}
		}
		d.Revisions = append(d.Revisions, r)
		e := queries.HistoryEntry{Version: uint64(n), Type: "PostEdited", ActorRole: domain.RoleEditor, At: r.At,
			Actor: queries.UserRef{ID: "u1", Username: "ann", DisplayName: name}}
		if n != 2 {
			e.Summary = summary
		}
		d.Timeline = append(d.Timeline, e)
	}
	return d
}

func TestHistoryRowsMatchTheTemplates(t *testing.T) {
	ui := &UI{}
	tmpl := template.Must(template.New("").Funcs(ui.funcs()).Parse(rowTemplates))
	d := historyRowsFixture("Title of the post", "second thoughts", "Ann Author", "Edited (rev 2)")
	for _, tt := range []struct {
		name string
		got  template.HTML
	}{{"rows", revisionRows(d)}, {"items", timelineItems(d)}} {
		var want bytes.Buffer
		if err := tmpl.ExecuteTemplate(&want, tt.name, d); err != nil {
			t.Fatal(err)
		}
		if string(tt.got) != want.String() {
			t.Errorf("%s differ from the template's:\ngot:\n%s\nwant:\n%s", tt.name, tt.got, want.String())
		}
	}
}

func TestHistoryRowsEscape(t *testing.T) {
	evil := `<script>alert("x")</script>' onmouseover='x' &amp;`
	d := historyRowsFixture(evil, evil, evil, evil)
	d.Timeline[0].Type = evil
	d.Timeline[0].ActorRole = domain.Role(evil)
	d.Revisions[0].Kind = evil
	out := string(revisionRows(d)) + string(timelineItems(d))
	for _, bad := range []string{"<script>", `"x"`, "' onmouseover", "&amp;amp;" + "x"} {
		if strings.Contains(out, bad) {
			t.Errorf("unescaped %q in\n%s", bad, out)
		}
	}
	if n := strings.Count(out, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39; onmouseover=&#39;x&#39; &amp;amp;"); n != 14 {
		t.Errorf("escaped value appears %d times, want 14:\n%s", n, out)
	}
}
