package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// pickerItemRe finds a picker radio and its label: media ID and label text.
var pickerItemRe = regexp.MustCompile(`type="radio" name="media_id" id="fi-([0-9a-f-]{36})" value="[0-9a-f-]{36}"( checked)?>\s*<label class="feature-label" for="fi-[0-9a-f-]{36}"><img class="feature-thumb" src="(/media/[0-9a-f]{64}/thumb\.png)" alt="" loading="lazy"><span class="feature-caption">([^<]*)</span>`)

// featureForm returns the fields of the feature image form of an editor page.
func featureForm(t *testing.T, body, mediaID, alt string) url.Values {
	t.Helper()
	m := regexp.MustCompile(`name="version" value="(\d+)"><input type="hidden" name="action" value="feature_image">`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("editor lacks the feature image form: %s", body)
	}
	return url.Values{"action": {"feature_image"}, "version": {m[1]}, "media_id": {mediaID}, "alt": {alt}}
}

func TestFeatureImagePicker(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	author, anonymous := f.clients["author"], f.clients["anonymous"]
	id := f.published.ID
	edit := "/desk/posts/" + id + "/edit"

	r := author.upload("/desk/media", "file", "sunset.png", pngBytes(t, 640, 400), map[string]string{"alt": "Library sunset"})
	if r.status != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	// The editor lists the library as labelled radio buttons with thumbnails.
	r = author.get(edit)
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="feature-image"`) || !strings.Contains(r.body, "This post has no feature image.") ||
		!strings.Contains(r.body, `id="fi-none" value="" checked`) {
		t.Fatalf("editor without the picker: %d %s", r.status, r.body)
	}
	m := pickerItemRe.FindStringSubmatch(r.body)
	if m == nil || m[2] != "" || m[4] != "Library sunset (640×400)" {
		t.Fatalf("picker item: %q", m)
	}
	mediaID, thumb := m[1], m[3]
	hash := strings.Split(thumb, "/")[2]
	form := featureForm(t, r.body, mediaID, "A red sunset over the sea")

	// Who may not edit the post, and forms without the CSRF token, are refused.
	for _, tc := range []struct {
		name   string
		client string
		csrf   bool
		want   int
	}{
		{"other author", "author2", true, http.StatusForbidden},
		{"auditor", "auditor", true, http.StatusForbidden},
		{"reader", "reader", true, http.StatusForbidden},
		{"anonymous", "anonymous", true, http.StatusSeeOther},
		{"author without csrf", "author", false, http.StatusForbidden},
		{"editor without csrf", "editor", false, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{}
			for k, vs := range form {
				v[k] = vs
			}
			if !tc.csrf {
				v.Set("_csrf", "")
			}
			r := f.clients[tc.client].post("/desk/posts/"+id, v)
			if r.status != tc.want {
				t.Errorf("status %d, want %d", r.status, tc.want)
			}
			if tc.want == http.StatusSeeOther && strings.Contains(r.header.Get("Location"), "msg=saved") {
				t.Errorf("refused change redirects like a saved one: %s", r.header.Get("Location"))
			}
		})
	}
	if r := anonymous.get("/posts/" + postSlug(t, anonymous, id)); strings.Contains(r.body, "post-feature") {
		t.Fatal("a refused request set the feature image")
	}

	// No choice at all is a field error.
	noPick := url.Values{"action": {"feature_image"}, "version": form["version"]}
	if r := author.post("/desk/posts/"+id, noPick); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "choose an image") {
		t.Errorf("no choice: %d", r.status)
	}

	// The author picks the image: the editor, the post page and the home page show it.
	r = author.post("/desk/posts/"+id, form)
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "msg=saved") {
		t.Fatalf("set feature image: %d %s", r.status, r.body)
	}
	r = author.get(r.header.Get("Location"))
	if !strings.Contains(r.body, `<img class="img-fluid rounded border" src="`+thumb+`" alt="A red sunset over the sea">`) ||
		!strings.Contains(r.body, `id="fi-`+mediaID+`" value="`+mediaID+`" checked`) || !strings.Contains(r.body, "Saved.") {
		t.Fatalf("editor after pick: %s", r.body)
	}
	slug := postSlug(t, anonymous, id)
	r = anonymous.get("/posts/" + slug)
	img := regexp.MustCompile(`<figure class="post-feature mb-4">\s*<img src="([^"]+)" srcset="([^"]+)" sizes="[^"]+" alt="([^"]*)" width="(\d+)" height="(\d+)"`).FindStringSubmatch(r.body)
	want := "/media/" + hash + "/w320.png 320w, /media/" + hash + "/w640.png 640w"
	if img == nil || img[1] != "/media/"+hash+"/w640.png" || img[2] != want || img[3] != "A red sunset over the sea" || img[4] != "640" || img[5] != "400" {
		t.Fatalf("post page image: %q in %s", img, r.body)
	}
	for _, u := range []string{img[1], "/media/" + hash + "/w320.png", thumb} {
		if r := anonymous.get(u); r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
			t.Errorf("GET %s: %d %s", u, r.status, r.header.Get("Content-Type"))
		}
	}
	r = anonymous.get("/")
	if !strings.Contains(r.body, `<img class="card-feature flex-shrink-0" src="`+thumb+`" alt="A red sunset over the sea" loading="lazy">`) {
		t.Errorf("home card lacks the thumbnail: %s", r.body)
	}

	// The same choice again changes nothing.
	r = author.get(edit)
	same := featureForm(t, r.body, mediaID, "A red sunset over the sea")
	if r := author.post("/desk/posts/"+id, same); r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "msg=nochanges") {
		t.Errorf("same choice: %d %s", r.status, r.header.Get("Location"))
	}

	// A stale version is a conflict that keeps the user's choice and offers
	// the current version; submitting that applies it.
	if r := f.clients["editor"].post("/desk/posts/"+id, featureForm(t, r.body, mediaID, "Edited by the editor")); r.status != http.StatusSeeOther {
		t.Fatalf("editor's change: %d %s", r.status, r.body)
	}
	r = author.post("/desk/posts/"+id, featureForm(t, r.body, "", ""))
	if r.status != http.StatusConflict || !strings.Contains(r.body, "Your feature image choice is kept") ||
		!strings.Contains(r.body, "Editor</strong> changed this post (PostFeatureImageSet)") || !strings.Contains(r.body, `id="fi-none" value="" checked`) {
		t.Fatalf("conflict: %d %s", r.status, r.body)
	}
	if r := author.post("/desk/posts/"+id, featureForm(t, r.body, "", "")); r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "msg=saved") {
		t.Fatalf("remove after conflict: %d %s", r.status, r.body)
	}
	if r := anonymous.get("/posts/" + slug); r.status != http.StatusOK || strings.Contains(r.body, "post-feature") {
		t.Errorf("removed image still shown: %d", r.status)
	}
	if r := anonymous.get("/"); strings.Contains(r.body, "card-feature") {
		t.Error("removed image still on the home page")
	}
}

// postSlug returns the slug of the fixture's published post (id), read
// from its link on the home page.
func postSlug(t *testing.T, c *client, id string) string {
	t.Helper()
	r := c.get("/")
	m := regexp.MustCompile(`<a href="/posts/([^"]+)">Hello World</a>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("home page lacks the post %s", id)
	}
	return m[1]
}
