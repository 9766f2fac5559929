package web_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/palimpsest-cms/palimpsest/commands"
)

// screenshotDir is where the browser test saves its screenshots: the
// directory in $SCREENSHOT_DIR (refresh the README's with
// SCREENSHOT_DIR=$PWD/docs/screenshots go test -run TestBrowserEndToEnd ./http/web/),
// else artifacts/screenshots under the system temp directory, so a test
// run never dirties the work tree.
func screenshotDir() string {
	if d := os.Getenv("SCREENSHOT_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "palimpsest-artifacts", "screenshots")
}

// findChromium returns the Chromium binary: $CHROME_PATH or the first of
// the usual names on $PATH.
func findChromium() (string, bool) {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// browser drives one headless Chromium tab against the test server.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path, ok := findChromium()
	if !ok {
		t.Fatal("chromium not found: the browser end-to-end test needs it. Install it with " +
			"`apt-get update && apt-get install -y chromium` or set CHROME_PATH")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return &browser{t: t, ctx: ctx, base: base}
}

func (b *browser) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 30*time.Second)
}

// nav opens path and returns the HTTP status of the document.
func (b *browser) nav(path string) int64 {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("navigate %s: %v", path, err)
	}
	return res.Status
}

// submit clicks sel, waits for the page it leads to and returns its status.
func (b *browser) submit(sel string) int64 {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	return res.Status
}

func (b *browser) fill(fields ...string) {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	for i := 0; i+1 < len(fields); i += 2 {
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(fields[i]), fields[i+1])); err != nil {
			b.t.Fatalf("fill %s: %v", fields[i], err)
		}
	}
}

func (b *browser) click(sel string) {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(loc, b.base)
}

func (b *browser) eval(js string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return n
}

func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := screenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

func (b *browser) signIn(login, password string) {
	b.t.Helper()
	b.nav("/signin")
	b.fill("#login", login, "#password", password)
	if st := b.submit(`form[action="/signin"] button[type=submit]`); st != http.StatusOK {
		b.t.Fatalf("sign in %s: status %d", login, st)
	}
	if nav := b.text("header nav"); !strings.Contains(nav, "Sign out") {
		b.t.Fatalf("sign in %s: not signed in: %s", login, nav)
	}
}

func (b *browser) signOut() {
	b.t.Helper()
	if st := b.submit(`form[action="/signout"] button`); st != http.StatusOK {
		b.t.Fatalf("sign out: status %d", st)
	}
}

func (b *browser) signUp(email, username, name, password string) {
	b.t.Helper()
	b.nav("/signup")
	b.fill("#email", email, "#username", username, "#display_name", name, "#password", password)
	if st := b.submit(`form[action="/signup"] button[type=submit]`); st != http.StatusOK {
		b.t.Fatalf("sign up %s: status %d", username, st)
	}
}

// TestBrowserEndToEnd walks the main story in headless Chromium and saves
// screenshots of the key pages to docs/screenshots.
func TestBrowserEndToEnd(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t, e.srv.URL)

	// The first account becomes admin; then an author and a reader sign up.
	b.signUp("ada@example.test", "ada", "Ada Admin", "admin password 1")
	if nav := b.text("header nav"); !strings.Contains(nav, "admin") || !strings.Contains(nav, "Users") {
		t.Fatalf("first account is not admin: %s", nav)
	}
	b.signOut()
	b.signUp("alice@example.test", "alice", "Alice Author", "author password 1")
	b.signOut()
	b.signUp("bob@example.test", "bob", "Bob Reader", "reader password 1")
	b.signOut()

	// The admin makes alice an author.
	b.signIn("ada", "admin password 1")
	b.nav("/admin/users?q=alice")
	b.fill(`select[id^="role-"]`, "author")
	if st := b.submit(`form[action$="/role"] button`); st != http.StatusOK {
		t.Fatalf("change role: %d", st)
	}
	if txt := b.text("main"); !strings.Contains(txt, "Role changed.") {
		t.Fatalf("role change not confirmed: %s", txt)
	}
	b.signOut()

	// Alice writes a post and edits it twice.
	b.signIn("alice", "author password 1")
	b.nav("/desk/posts/new")
	body1 := "Event sourcing keeps every change as an event.\n\nThe current state is a projection of those events.\n\nHistory comes for free."
	b.fill("#title", "Event sourcing in practice", "#tags", "go, cms", "#excerpt", "Why we keep every change.", "#body", body1)
	if st := b.submit(`button[name=action][value=save]`); st != http.StatusOK {
		t.Fatalf("create draft: %d", st)
	}
	m := regexp.MustCompile(`^/desk/posts/([0-9a-f-]{36})/edit`).FindStringSubmatch(b.location())
	if m == nil {
		t.Fatalf("after create at %s", b.location())
	}
	id := m[1]
	body2 := strings.Replace(body1, "The current state is a projection", "The current state is a read model built", 1)
	b.fill("#body", body2, "#note", "clearer wording")
	if st := b.submit(`button[name=action][value=save]`); st != http.StatusOK {
		t.Fatalf("edit 1: %d", st)
	}
	body3 := strings.Replace(body2, "History comes for free.", "History and audit come for free.", 1)
	b.fill("#body", body3, "#note", "mention audit")
	if st := b.submit(`button[name=action][value=save]`); st != http.StatusOK {
		t.Fatalf("edit 2: %d", st)
	}
	if txt := b.text("main"); !strings.Contains(txt, "Saved.") || !strings.Contains(txt, "revision 3") {
		t.Fatalf("editor after two edits: %s", txt)
	}
	// Meanwhile the admin edits the post: saving the stale form shows the
	// conflict with who saved, and the diff; the author overwrites it.
	admin, err := e.cmds.Authenticate(context.Background(), "ada", "admin password 1")
	if err != nil {
		t.Fatal(err)
	}
	theirs := strings.Replace(body3, "keeps every change", "keeps each and every change", 1)
	if _, err := e.cmds.EditPost(context.Background(), commands.Meta{Actor: admin.Actor()},
		commands.EditPost{PostID: id, ExpectedVersion: 3, Body: &theirs}); err != nil {
		t.Fatal(err)
	}
	b.fill("#note", "my wording wins")
	if st := b.submit(`button[name=action][value=save]`); st != http.StatusConflict {
		t.Fatalf("stale save: %d", st)
	}
	if txt := b.text("main"); !strings.Contains(txt, "Edit conflict") || !strings.Contains(txt, "Ada Admin saved this post") {
		t.Fatalf("conflict page: %s", txt)
	}
	b.shot("conflict")
	if st := b.submit(`button[form=editor][value=overwrite]`); st != http.StatusOK {
		t.Fatalf("overwrite: %d", st)
	}
	if txt := b.text("main"); !strings.Contains(txt, "Saved.") || !strings.Contains(txt, "revision 5") {
		t.Fatalf("after overwrite: %s", txt)
	}
	if st := b.submit(`button[name=action][value=preview]`); st != http.StatusOK {
		t.Fatalf("preview: %d", st)
	}
	b.shot("editor")
	b.nav("/desk")
	if txt := b.text("main"); !strings.Contains(txt, "Event sourcing in practice") {
		t.Fatalf("dashboard: %s", txt)
	}
	b.shot("desk")
	b.signOut()

	// The admin publishes it; it appears on the home page.
	b.signIn("ada", "admin password 1")
	b.nav("/desk/posts/" + id + "/edit")
	if st := b.submit(`button[name=action][value=publish]`); st != http.StatusOK {
		t.Fatalf("publish: %d", st)
	}
	b.nav("/")
	if txt := b.text("main"); !strings.Contains(txt, "Event sourcing in practice") {
		t.Fatalf("home lacks the post: %s", txt)
	}
	b.shot("home")
	if st := b.submit(`main article a[href^="/posts/"]`); st != http.StatusOK {
		t.Fatalf("open post: %d", st)
	}
	if txt := b.text("main"); !strings.Contains(txt, "History and audit come for free.") {
		t.Fatalf("post page: %s", txt)
	}
	b.shot("post")

	// History: diff revisions 1 and 3 with highlighted words.
	b.nav("/desk/posts/" + id + "/history")
	b.shot("history")
	b.click("#from-1")
	b.click("#to-3")
	if st := b.submit(`form[action$="/diff"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("diff: %d", st)
	}
	if ins, del := b.eval(`document.querySelectorAll("ins.word-ins").length`), b.eval(`document.querySelectorAll("del.word-del").length`); ins < 2 || del < 2 {
		t.Fatalf("diff highlights: %d insertions, %d deletions", ins, del)
	}
	if txt := b.text("main"); !strings.Contains(txt, "Revision 1 → revision 3") {
		t.Fatalf("diff page: %s", txt)
	}
	b.shot("diff")
	b.click(`a[href*="view=inline"]`)
	if n := b.eval(`document.querySelectorAll(".diff-inline ins.word-ins").length`); n < 1 {
		// The click navigates; give it a moment.
		time.Sleep(500 * time.Millisecond)
		if n = b.eval(`document.querySelectorAll(".diff-inline ins.word-ins").length`); n < 1 {
			t.Fatalf("inline diff has no highlights")
		}
	}

	// Restore revision 1.
	b.nav("/desk/posts/" + id + "/revisions/1")
	b.eval(`window.confirm = function () { return true; }; 1`)
	if st := b.submit(`form[action$="/revert"] button`); st != http.StatusOK {
		t.Fatalf("revert: %d", st)
	}
	if txt := b.text("main"); !strings.Contains(txt, "Revision restored") || !strings.Contains(txt, "PostReverted") {
		t.Fatalf("history after revert: %s", txt)
	}
	b.nav("/posts/event-sourcing-in-practice")
	if txt := b.text("main"); !strings.Contains(txt, "History comes for free.") {
		t.Fatalf("post after revert: %s", txt)
	}

	b.nav("/audit")
	if txt := b.text("main"); !strings.Contains(txt, "PostReverted") {
		t.Fatalf("audit log: %s", txt)
	}
	b.shot("audit")
	b.signOut()

	// The reader cannot open the editor.
	b.signIn("bob", "reader password 1")
	if st := b.nav("/desk/posts/" + id + "/edit"); st != http.StatusForbidden {
		t.Fatalf("reader opens editor: %d", st)
	}
	if txt := b.text("main"); !strings.Contains(txt, "Access denied") {
		t.Fatalf("403 page: %s", txt)
	}
	b.shot("forbidden")

	// A form posted without its CSRF token is refused.
	b.nav("/profile")
	b.eval(`document.querySelector('form[action="/profile"] input[name="_csrf"]').remove(); 1`)
	b.fill("#display_name", "Mallory")
	if st := b.submit(`form[action="/profile"] button[type=submit]`); st != http.StatusForbidden {
		t.Fatalf("post without csrf: %d", st)
	}
	if txt := b.text("main"); !strings.Contains(txt, "security token") {
		t.Fatalf("csrf page: %s", txt)
	}
	b.nav("/profile")
	if v := b.eval(`document.querySelector("#display_name").value === "Bob Reader" ? 1 : 0`); v != 1 {
		t.Fatal("profile changed by a form without its CSRF token")
	}
}
