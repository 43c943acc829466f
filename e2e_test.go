//go:build e2e

// The browser tests drive Debian's Chromium through chromedp against a real
// `cubby serve` on loopback, in this process. Run them with
//
//	go test -tags e2e -run E2E -count=1 .
//
// Without Chromium they skip, except under CI=true, where a missing browser
// is a failure. The screenshots go into the test's temp dir; a failing run
// also leaves them, each page's HTML and the logs in $CUBBY_E2E_ARTIFACTS
// (default $TMPDIR/cubby-e2e-artifacts). With CUBBY_SCREENSHOT_DIR set, the
// notes page's screenshot is copied there as screenshot.png (the README's).
package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	_ "modernc.org/sqlite"
)

const (
	alicePassword = "correct horse battery"
	bobPassword   = "staple horse battery"
	signupButton  = `form[action="/signup"] button[type=submit]`
	loginButton   = `form[action="/login"] button[type=submit]`
	saveButton    = `form[action="/notes"][method=post] button[type=submit]`
	searchButton  = `form[role=search] button[type=submit]`
	logoutButton  = `form[action="/logout"] button`
	deleteAccount = `form[action="/account/delete"] button[type=submit]`
)

func TestE2ENotesJourneyInTwoBrowsers(t *testing.T) {
	chromium := findChromium(t)
	base, ops := startServer(t)
	shots := t.TempDir()
	alice := newBrowser(t, chromium, base, "alice", shots)

	signUp(alice, "alice", alicePassword)
	for _, n := range []struct{ title, body string }{
		{"Groceries", "milk, eggs and bread"},
		{"Holiday plans", "a week at the beach in June"},
		{"Reading list", "a book about gardens, and one about bees"},
	} {
		alice.fill("title", n.title)
		alice.fill("body", n.body)
		alice.submit(saveButton, 200, "/notes")
	}
	wantTitles(alice, "Reading list", "Holiday plans", "Groceries")

	alice.fill("q", "beach")
	alice.submit(searchButton, 200, "/notes?q=beach")
	wantTitles(alice, "Holiday plans")

	alice.submit(`//article[h3="Holiday plans"]//a[contains(@href, "/edit")]`, 200, "/notes/2/edit")
	alice.fill("title", "Summer holiday")
	alice.submit(`form[action="/notes/2/update"] button[type=submit]`, 200, "/notes")
	wantTitles(alice, "Reading list", "Summer holiday", "Groceries")

	alice.submit(`//article[h3="Groceries"]//form[contains(@action, "/delete")]//button`, 200, "/notes")
	wantTitles(alice, "Reading list", "Summer holiday")

	alice.submit(logoutButton, 200, "/")
	alice.open("/notes", 200, "/login")
	logIn(alice, "alice", alicePassword)
	wantTitles(alice, "Reading list", "Summer holiday")
	screenshots(alice, "notes")
	if dir := os.Getenv("CUBBY_SCREENSHOT_DIR"); dir != "" {
		if err := copyFile(filepath.Join(shots, "notes.png"), filepath.Join(dir, "screenshot.png")); err != nil {
			t.Fatal(err)
		}
	}

	alice.submit(`header a[href="/account"]`, 200, "/account")
	alice.wantText(`//dt[.="Notes"]/following-sibling::dd[1]`, "2")
	alice.wantText(`//dt[.="Storage used"]/following-sibling::dd[1]`, "KiB")
	screenshots(alice, "account")
	alice.do("click the export link", chromedp.Click(`a[href="/account/export"]`))
	wantExport(t, alice.download(), "alice", "Summer holiday", "Reading list")

	// A second profile, signed in as someone else, sees none of it.
	bob := newBrowser(t, chromium, base, "bob", shots)
	bob.open("/signup", 200, "/signup")
	signUp(bob, "bob", bobPassword)
	wantTitles(bob)
	bob.wantText("main", "No notes yet")
	bob.fill("q", "holiday")
	bob.submit(searchButton, 200, "/notes?q=holiday")
	wantTitles(bob)
	bob.open("/notes/2/edit", 404, "/notes/2/edit")
	bob.open("/notes", 200, "/notes")
	bob.fill("title", "Bob's own")
	bob.submit(saveButton, 200, "/notes")
	wantTitles(bob, "Bob's own")
	alice.open("/notes", 200, "/notes")
	wantTitles(alice, "Reading list", "Summer holiday")

	// The operator page, on the --metrics-addr listener, lists both with
	// the app's look; the public listener has no such page.
	operator := newBrowser(t, chromium, ops, "operator", shots)
	operator.open("/", 200, "/")
	operator.wantText("h1", "Operator")
	operator.wantText(`//table//th[@scope="row"][.="alice"]/..`, "active", "open now")
	operator.wantText(`//table//th[@scope="row"][.="bob"]/..`, "active")
	operator.wantText(`//dt[.="Tenants"]/following-sibling::dd[1]`, "2")
	operator.wantText(`//dt[.="Migrations pending"]/following-sibling::dd[1]`, "0")
	screenshots(operator, "operator")
	bob.open("/", 200, "/notes")
	if strings.Contains(bob.text("body"), "Migrations pending") {
		t.Error("the public listener shows the operator page")
	}

	// Deleting the account wants the password, then signs out for good.
	alice.open("/account", 200, "/account")
	alice.fill("password", "wrong horse battery")
	alice.submit(deleteAccount, 401, "/account/delete")
	alice.wantText(`[role=alert]`, "wrong username or password")
	alice.wantText(`#password-error`, "wrong username or password")
	alice.fill("password", alicePassword)
	alice.submit(deleteAccount, 200, "/")
	alice.open("/notes", 200, "/login")
	alice.fill("username", "alice")
	alice.fill("password", alicePassword)
	alice.submit(loginButton, 401, "/login")
	bob.open("/notes", 200, "/notes")
	wantTitles(bob, "Bob's own")

	for _, b := range []*browser{alice, bob, operator} {
		if bad := b.cspViolations(); len(bad) > 0 {
			t.Errorf("%s: the console shows:\n%s", b.name, strings.Join(bad, "\n"))
		}
	}
	t.Logf("screenshots in %s", shots)
}

// signUp signs up from the front page, first with a name the server
// refuses, which must be explained beside the field and at the top.
func signUp(b *browser, name, password string) {
	b.t.Helper()
	b.open("/", 200, "/")
	b.submit(`main a[href="/signup"]`, 200, "/signup")
	b.fill("username", name+" !")
	b.fill("password", password)
	b.submit(signupButton, 422, "/signup")
	b.wantText(`[role=alert]`, "username must be")
	b.wantText(`#username-error`, "username must be")
	if got := eval[string](b, `document.getElementById('username').value`); got != name+" !" {
		b.t.Fatalf("%s: the refused username was not kept: %q", b.name, got)
	}
	b.fill("username", name)
	b.fill("password", password)
	b.submit(signupButton, 200, "/notes")
	b.wantText("h1", name)
}

// logIn logs in from the login page, first with a wrong password; it checks
// on the way that a field reached with the keyboard shows its focus.
func logIn(b *browser, name, password string) {
	b.t.Helper()
	b.fill("username", name)
	b.fill("password", "wrong "+password)
	b.submit(loginButton, 401, "/login")
	b.wantText(`[role=alert]`, "wrong username or password")
	b.do("focus the username, then tab", chromedp.Focus(chromedp.ID("username")), chromedp.KeyEvent("\t"))
	focus := eval[string](b, `(() => {
		const s = getComputedStyle(document.activeElement);
		return document.activeElement.id + ' ' + s.outlineStyle + ' ' + s.outlineWidth;
	})()`)
	if f := strings.Fields(focus); len(f) != 3 || f[0] != "password" || f[1] == "none" || f[2] == "0px" {
		b.t.Fatalf("%s: focused field shows no outline: %q", b.name, focus)
	}
	b.fill("password", password)
	b.submit(loginButton, 200, "/notes")
}

// wantTitles checks the titles of the notes listed, in order.
func wantTitles(b *browser, want ...string) {
	b.t.Helper()
	if got := b.noteTitles(); !slices.Equal(got, want) {
		b.t.Fatalf("%s: notes listed %q; want %q", b.name, got, want)
	}
}

// screenshots saves the page as name.png at desktop size and as
// name-phone.png at phone size, checking the page at both.
func screenshots(b *browser, name string) {
	b.t.Helper()
	b.viewport(desktopWidth, desktopHeight)
	b.checkPage(name + " at desktop width")
	b.screenshot(name + ".png")
	b.viewport(phoneWidth, phoneHeight)
	b.checkPage(name + " at phone width")
	b.screenshot(name + "-phone.png")
	b.viewport(desktopWidth, desktopHeight)
}

// wantExport opens a downloaded export and checks that it is user's
// database with the notes titled want (in id order) and no password hash.
func wantExport(t *testing.T, path, user string, want ...string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "SQLite format 3\x00") {
		t.Fatalf("export %s is not an SQLite database", path)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT title FROM notes ORDER BY id`)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var title string
		if err := rows.Scan(&title); err != nil {
			t.Fatal(err)
		}
		got = append(got, title)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("export holds notes %q; want %q", got, want)
	}
	var name, hash string
	if err := db.QueryRow(`SELECT username, password_hash FROM account`).Scan(&name, &hash); err != nil {
		t.Fatalf("export: %v", err)
	}
	if name != user || hash != "" {
		t.Fatalf("export account is %q with hash %q; want %q with none", name, hash, user)
	}
}
