package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/palimpsest-cms/palimpsest/commands"
)

var (
	revRowRe   = regexp.MustCompile(`name="from" value="(\d+)"`)
	eventRe    = regexp.MustCompile(`<span class="small text-body-secondary fw-normal">v(\d+)</span>`)
	pageLinkRe = regexp.MustCompile(`<a href="([^"]+)"(?: rel="(?:prev|next)")?>(« Newest|‹ Newer|Older ›|Oldest »)</a>`)
)

// historyPage is what one history page shows.
type historyPage struct {
	revs, events []string
	// links by list ("Revision pages", "Timeline pages") and label.
	links map[string]map[string]string
}

func parseHistory(t *testing.T, body string) historyPage {
	t.Helper()
	h := historyPage{links: map[string]map[string]string{}}
	for _, m := range revRowRe.FindAllStringSubmatch(body, -1) {
		h.revs = append(h.revs, m[1])
	}
	for _, m := range eventRe.FindAllStringSubmatch(body, -1) {
		h.events = append(h.events, m[1])
	}
	for _, list := range []string{"Revision pages", "Timeline pages"} {
		h.links[list] = map[string]string{}
		i := strings.Index(body, `aria-label="`+list+`"`)
		if i < 0 {
			continue
		}
		nav := body[i : i+strings.Index(body[i:], "</nav>")]
		for _, m := range pageLinkRe.FindAllStringSubmatch(nav, -1) {
			h.links[list][m[2]] = html.UnescapeString(m[1])
		}
	}
	return h
}

func span(from, to int) string { return fmt.Sprintf("%d..%d", from, to) }

func keys(ks []string) string {
	if len(ks) == 0 {
		return "none"
	}
	return ks[0] + ".." + ks[len(ks)-1]
}

func TestHistoryPagesOfAThousandRevisions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	author := commands.Meta{Actor: f.users["author"].Actor()}
	const n = 1010 // revisions and events: a draft and n-1 edits
	res, err := f.e.cmds.DraftPost(ctx, author, commands.DraftPost{Title: "Long Story", Body: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= n; i++ {
		body := fmt.Sprintf("v%d", i)
		if res, err = f.e.cmds.EditPost(ctx, author, commands.EditPost{PostID: res.ID, ExpectedVersion: res.Version, Body: &body}); err != nil {
			t.Fatal(err)
		}
	}
	f.e.settle()
	editor := f.clients["editor"]
	base := "/desk/posts/" + res.ID + "/history"
	get := func(path string) historyPage {
		t.Helper()
		r := editor.get(path)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d", path, r.status)
		}
		return parseHistory(t, r.body)
	}

	// First page: the newest 50 of each, oldest first.
	p := get(base)
	if keys(p.revs) != span(n-49, n) || keys(p.events) != span(n-49, n) || len(p.revs) != 50 || len(p.events) != 50 {
		t.Fatalf("first page: revisions %s, events %s", keys(p.revs), keys(p.events))
	}
	revLinks := p.links["Revision pages"]
	if revLinks["« Newest"] != "" || revLinks["‹ Newer"] != "" || revLinks["Older ›"] != base+"?rev_before=961" || revLinks["Oldest »"] != base+"?rev_after=0" {
		t.Fatalf("first page revision links: %v", revLinks)
	}
	// Next (older) page of revisions; the timeline stays on its page.
	p = get(revLinks["Older ›"])
	if keys(p.revs) != span(911, 960) || keys(p.events) != span(n-49, n) {
		t.Fatalf("older page: revisions %s, events %s", keys(p.revs), keys(p.events))
	}
	if l := p.links["Revision pages"]; l["« Newest"] != base || l["‹ Newer"] != base+"?rev_after=960" {
		t.Errorf("older page links: %v", l)
	}
	// Walk the timeline back to its oldest event.
	var walked int
	next := base
	for range 30 {
		p = get(next)
		walked += len(p.events)
		next = p.links["Timeline pages"]["Older ›"]
		if next == "" {
			break
		}
	}
	if walked != n || keys(p.events) != span(1, 10) {
		t.Errorf("walking the timeline back saw %d events, ending with %s", walked, keys(p.events))
	}
	// Last page (the oldest revisions), and newer from there.
	p = get(base + "?rev_after=0")
	if keys(p.revs) != span(1, 50) || p.links["Revision pages"]["Older ›"] != "" || p.links["Revision pages"]["‹ Newer"] != base+"?rev_after=50" {
		t.Errorf("oldest page: revisions %s, links %v", keys(p.revs), p.links["Revision pages"])
	}
	if p = get(base + "?rev_after=50&ev_before=100"); keys(p.revs) != span(51, 100) || keys(p.events) != span(50, 99) {
		t.Errorf("newer page: revisions %s, events %s", keys(p.revs), keys(p.events))
	}

	// Tampered paging parameters are a 400 page, an unknown post a 404.
	for _, q := range []string{"rev_before=abc", "rev_before=0", "ev_after=-5", "ev_before=1e9", "rev_before=5&rev_after=1",
		"ev_after=99999999999999999999999999"} {
		if r := editor.get(base + "?" + q); r.status != http.StatusBadRequest || !strings.Contains(r.body, "does not exist") {
			t.Errorf("?%s: %d", q, r.status)
		}
	}
	if r := editor.get("/desk/posts/00000000-0000-4000-8000-000000000000/history"); r.status != http.StatusNotFound {
		t.Errorf("unknown post: %d", r.status)
	}
	// Bounds past either end give empty lists with a way back.
	p = get(base + "?rev_after=5000&ev_before=1")
	if len(p.revs) != 0 || len(p.events) != 0 || p.links["Revision pages"]["Oldest »"] == "" || p.links["Timeline pages"]["« Newest"] == "" {
		t.Errorf("past the ends: revisions %v, events %v, links %v", p.revs, p.events, p.links)
	}
}
