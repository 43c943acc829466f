package router

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// wantPage checks for an HTML page with status that contains every want,
// and returns its body.
func wantPage(t *testing.T, rec *httptest.ResponseRecorder, status int, want ...string) string {
	t.Helper()
	body := rec.Body.String()
	if rec.Code != status || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status %d (%q); want %d HTML: %s", rec.Code, rec.Header().Get("Content-Type"), status, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("page lacks %q:\n%s", w, body)
		}
	}
	return body
}

func TestHTMLSignedOutVisitors(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	wantPage(t, c.do("GET", "/", nil), 200, `href="/signup"`, `href="/login"`, `/static/style.css`)
	wantPage(t, c.do("GET", "/signup", nil), 200, `action="/signup"`, `name="username"`, `name="password"`)
	wantPage(t, c.do("GET", "/login", nil), 200, `action="/login"`)
	for _, p := range []string{"/notes", "/account", "/notes/1/edit", "/account/export"} {
		wantRedirect(t, c.do("GET", p, nil), "/login")
	}
	for _, p := range []string{"/notes", "/notes/1/update", "/notes/1/delete", "/account/delete"} {
		wantRedirect(t, c.form(p, "title", "x", "password", "x"), "/login")
	}
	wantRedirect(t, c.do("POST", "/logout", nil), "/")
}

func TestHTMLNotesFlow(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	wantRedirect(t, c.form("/signup", "username", "Alice", "password", "correct horse"), "/notes")
	if c.cookie == nil {
		t.Fatal("signup set no cookie")
	}
	for _, p := range []string{"/", "/login", "/signup"} {
		wantRedirect(t, c.do("GET", p, nil), "/notes")
	}
	wantPage(t, c.do("GET", "/notes", nil), 200, "alice", `name="q"`, `action="/notes"`, "No notes yet")

	wantRedirect(t, c.form("/notes", "title", "<b>Groceries</b>", "body", "milk\n<script>x</script>"), "/notes")
	wantRedirect(t, c.form("/notes", "title", "Holiday", "body", "beach"), "/notes")
	body := wantPage(t, c.do("GET", "/notes", nil), 200, "&lt;b&gt;Groceries&lt;/b&gt;", "Holiday",
		`action="/notes/1/delete"`, `href="/notes/1/edit"`)
	if strings.Contains(body, "<script>x") || strings.Index(body, "Holiday") > strings.Index(body, "Groceries") {
		t.Fatal("notes unescaped or not newest first")
	}
	body = wantPage(t, c.do("GET", "/notes?q=beach", nil), 200, "Holiday", `value="beach"`)
	if strings.Contains(body, "Groceries") {
		t.Fatal("search showed a note without the word")
	}
	wantPage(t, c.do("GET", "/notes?q="+strings.Repeat("x", 1025), nil), 400, "at most 1024 bytes")
	wantPage(t, c.do("GET", "/notes?q=%22NEAR(%20*", nil), 200, "No note holds")

	wantPage(t, c.do("GET", "/notes/2/edit", nil), 200, `action="/notes/2/update"`, `value="Holiday"`, "beach")
	wantRedirect(t, c.form("/notes/2/update", "title", "Trip", "body", "mountains"), "/notes")
	wantPage(t, c.do("GET", "/notes", nil), 200, "Trip", "mountains")
	wantRedirect(t, c.form("/notes/2/delete"), "/notes")
	if body := wantPage(t, c.do("GET", "/notes", nil), 200); strings.Contains(body, "Trip") {
		t.Fatal("deleted note still listed")
	}
	wantPage(t, c.do("GET", "/notes/2/edit", nil), 404)
	wantPage(t, c.form("/notes/2/update", "title", "x"), 404)
	wantPage(t, c.form("/notes/2/delete"), 404)
	wantPage(t, c.do("GET", "/notes/abc/edit", nil), 404)

	wantPage(t, c.do("GET", "/account", nil), 200, "alice", `href="/account/export"`, `action="/account/delete"`,
		"Storage used", "<dd>1</dd>")
	wantRedirect(t, c.do("POST", "/logout", nil), "/")
	if c.cookie != nil {
		t.Fatal("logout kept the cookie")
	}
	wantRedirect(t, c.do("GET", "/notes", nil), "/login")
}

func TestHTMLFormErrorsKeepInput(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.client().signup("alice", "correct horse")
	c := r.client()
	wantPage(t, c.form("/signup", "username", "bad name!", "password", "correct horse"), 422,
		`value="bad name!"`, "username must be")
	wantPage(t, c.form("/signup", "username", "bobby", "password", "short"), 422, `value="bobby"`, "password must be")
	wantPage(t, c.form("/signup", "username", "ALICE", "password", "correct horse"), 409, `value="ALICE"`, "taken")
	body := wantPage(t, c.form("/login", "username", "alice", "password", "wrong horse"), 401,
		`value="alice"`, "wrong username or password")
	if strings.Contains(body, "wrong horse") {
		t.Fatal("the password was echoed back")
	}
	if c.cookie != nil {
		t.Fatal("failed forms signed in")
	}
	for range 9 {
		c.form("/login", "username", "alice", "password", "wrong horse")
	}
	rec := c.form("/login", "username", "alice", "password", "correct horse")
	wantPage(t, rec, 429, "too many failed attempts")
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}

	c.signup("carol", "correct horse")
	wantPage(t, c.form("/notes", "title", "   ", "body", "kept body"), 422, "kept body", "title must not be blank")
	wantRedirect(t, c.form("/notes", "title", "real"), "/notes")
	wantPage(t, c.form("/notes/1/update", "title", "", "body", "edited"), 422, "edited", "title must not be blank",
		`action="/notes/1/update"`)
	wantPage(t, c.form("/notes", "title", "x", "body", strings.Repeat("y", 1<<20+1)), 422, "at most 1 MiB")
	wantPage(t, c.form("/notes", "title", "\u200b\u2060", "body", "kept body"), 422, "kept body", "visible character")
	wantPage(t, c.form("/notes", "title", "ding\a", "body", "kept body"), 422, "kept body", "control character")
	wantPage(t, c.form("/notes/1/update", "title", "real", "body", "nul\x00"), 422, `value="real"`, "control character")
}

func TestHTMLAccountDeletion(t *testing.T) {
	r := newRig(t, rigOptions{})
	c, other := r.client(), r.client()
	c.signup("alice", "correct horse")
	other.form("/login", "username", "alice", "password", "correct horse")
	wantPage(t, c.form("/account/delete", "password", "wrong horse"), 401, "wrong username or password",
		`action="/account/delete"`)
	wantRedirect(t, c.form("/account/delete", "password", "correct horse"), "/")
	wantRedirect(t, other.do("GET", "/notes", nil), "/login")
	wantPage(t, c.form("/login", "username", "alice", "password", "correct horse"), 401)
	wantRedirect(t, c.form("/signup", "username", "alice", "password", "new password"), "/notes")
}

func TestHTMLSignupClosed(t *testing.T) {
	r := newRig(t, rigOptions{signupClosed: true})
	c := r.client()
	body := wantPage(t, c.do("GET", "/signup", nil), 403, "signup is closed")
	if strings.Contains(body, `action="/signup"`) {
		t.Fatal("a closed signup page shows the form")
	}
	wantPage(t, c.form("/signup", "username", "alice", "password", "correct horse"), 403, "signup is closed")
	if body := wantPage(t, c.do("GET", "/", nil), 200); strings.Contains(body, `class="button" href="/signup"`) {
		t.Fatal("the landing page offers a closed signup")
	}
}
