package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/queries"
)

func testContext(target string) *gin.Context {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodGet, target, nil)
	return c
}

func TestHistorySeek(t *testing.T) {
	tests := []struct {
		query string
		want  queries.Seek
		ok    bool
	}{
		{"", queries.Seek{Limit: historyWindow, Backward: true}, true},
		{"rev_before=71", queries.Seek{Limit: historyWindow, Backward: true, Bound: 71}, true},
		{"rev_after=0", queries.Seek{Limit: historyWindow}, true},
		{"rev_after=120", queries.Seek{Limit: historyWindow, Bound: 120}, true},
		{"ev_before=5", queries.Seek{Limit: historyWindow, Backward: true}, true}, // the other list's page
		{"rev_before=0", queries.Seek{}, false},
		{"rev_before=", queries.Seek{}, false},
		{"rev_before=x%27%3B+drop", queries.Seek{}, false},
		{"rev_after=-1", queries.Seek{}, false},
		{"rev_before=99999999999999999999999", queries.Seek{}, false},
		{"rev_before=3&rev_after=1", queries.Seek{}, false},
	}
	for _, tt := range tests {
		got, ok := historySeek(testContext("/desk/posts/x/history?"+tt.query), "rev")
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("historySeek(%q) = %+v, %v; want %+v, %v", tt.query, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHistoryLinks(t *testing.T) {
	key := func(v uint64) uint64 { return v }
	const path = "/desk/posts/p/history"
	tests := []struct {
		name  string
		query string
		w     queries.Window[uint64]
		want  pageLinks
	}{
		{"only page", "", queries.Window[uint64]{Items: []uint64{1, 2}}, pageLinks{}},
		{"newest page", "", queries.Window[uint64]{Items: []uint64{51, 100}, Older: true},
			pageLinks{Older: path + "?rev_before=51", Oldest: path + "?rev_after=0"}},
		{"middle page keeps the timeline's page and drops the flash", "rev_before=51&ev_before=7&msg=reverted",
			queries.Window[uint64]{Items: []uint64{1, 50}, Older: true, Newer: true},
			pageLinks{Newest: path + "?ev_before=7", Newer: path + "?ev_before=7&rev_after=50", Older: path + "?ev_before=7&rev_before=1",
				Oldest: path + "?ev_before=7&rev_after=0"}},
		{"empty page past the end", "rev_after=500", queries.Window[uint64]{Older: true}, pageLinks{Oldest: path + "?rev_after=0"}},
		{"empty page before the start", "rev_before=1", queries.Window[uint64]{Newer: true}, pageLinks{Newest: path}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := historyLinks(testContext(path+"?"+tt.query), "rev", tt.w, key); got != tt.want {
				t.Errorf("historyLinks = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
