package router

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type meJSON struct {
	Username      string `json:"username"`
	CreatedAt     string `json:"created_at"`
	SchemaVersion int    `json:"schema_version"`
	SizeBytes     int64  `json:"size_bytes"`
}

func TestSignupSignsInAndMeDescribesAccount(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	rec := c.do("POST", "/api/v1/signup", `{"username":"Alice","password":"correct horse"}`)
	if rec.Code != http.StatusCreated || decode[usernameResponse](t, rec).Username != "alice" {
		t.Fatalf("signup: %d %s", rec.Code, rec.Body)
	}
	if c.cookie == nil || !c.cookie.HttpOnly || c.cookie.SameSite != http.SameSiteLaxMode || c.cookie.Secure {
		t.Fatalf("session cookie %+v", c.cookie)
	}
	rec = c.do("GET", "/api/v1/me", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("me: %d %s", rec.Code, rec.Body)
	}
	me := decode[meJSON](t, rec)
	created, err := time.Parse(time.RFC3339, me.CreatedAt)
	if me.Username != "alice" || err != nil || time.Since(created) > time.Minute ||
		me.SchemaVersion != r.pool.SchemaVersion() || me.SizeBytes <= 0 {
		t.Fatalf("me = %+v (%v)", me, err)
	}
}

func TestSignupRefusals(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.client().signup("alice", "correct horse")
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"taken", `{"username":"alice","password":"another one"}`, 409, "username_taken"},
		{"taken in other case", `{"username":"ALICE","password":"another one"}`, 409, "username_taken"},
		{"bad name", `{"username":"a!","password":"correct horse"}`, 422, "invalid_username"},
		{"kelvin sign", `{"username":"\u212Aelvin","password":"correct horse"}`, 422, "invalid_username"},
		{"missing name", `{"password":"correct horse"}`, 422, "invalid_username"},
		{"short password", `{"username":"bob","password":"short"}`, 422, "weak_password"},
		{"long password", `{"username":"bob","password":"` + strings.Repeat("x", 1025) + `"}`, 422, "weak_password"},
		{"malformed", `{"username":`, 400, "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := r.client()
			wantError(t, c.do("POST", "/api/v1/signup", tc.body), tc.status, tc.code)
			if c.cookie != nil {
				t.Error("a refused signup set a session cookie")
			}
		})
	}
}

func TestSignupClosed(t *testing.T) {
	r := newRig(t, rigOptions{signupClosed: true})
	wantError(t, r.client().do("POST", "/api/v1/signup", `{"username":"alice","password":"correct horse"}`),
		403, "signup_closed")
}

func TestSignupConcurrentSameNameOneWins(t *testing.T) {
	r := newRig(t, rigOptions{})
	const n = 30
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = r.client().do("POST", "/api/v1/signup",
				`{"username":"Racer","password":"password`+strconv.Itoa(i)+`"}`).Code
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Fatalf("status counts %v; want one 201 and %d 409", count, n-1)
	}
}

func TestLoginRenewsCookieAndOldOneDies(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	before := c.cookie
	rec := c.do("POST", "/api/v1/login", `{"username":"ALICE","password":"correct horse"}`)
	if rec.Code != http.StatusOK || decode[usernameResponse](t, rec).Username != "alice" {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	if c.cookie == nil || c.cookie.Value == before.Value {
		t.Fatal("login kept the session token")
	}
	if rec := c.do("GET", "/api/v1/me", nil); rec.Code != http.StatusOK {
		t.Fatalf("me with the new cookie: %d", rec.Code)
	}
	old := r.client()
	old.cookie = before
	wantError(t, old.do("GET", "/api/v1/me", nil), 401, "unauthenticated")
}

func TestLoginFailuresAreAlike(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.client().signup("alice", "correct horse")
	for _, body := range []string{
		`{"username":"alice","password":"wrong horse"}`,
		`{"username":"nobody","password":"correct horse"}`,
		`{"username":"a b!","password":"correct horse"}`,
		`{"username":"\u212Aelvin","password":"correct horse"}`,
		`{}`,
	} {
		c := r.client()
		wantError(t, c.do("POST", "/api/v1/login", body), 401, "invalid_credentials")
		if c.cookie != nil {
			t.Errorf("%s: a failed login set a cookie", body)
		}
	}
}

func TestLoginThrottled(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.client().signup("alice", "correct horse")
	c := r.client()
	for range 10 {
		wantError(t, c.do("POST", "/api/v1/login", `{"username":"alice","password":"wrong horse"}`),
			401, "invalid_credentials")
	}
	rec := c.do("POST", "/api/v1/login", `{"username":"Alice","password":"correct horse"}`)
	wantError(t, rec, 429, "too_many_attempts")
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 15*60 {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
}

func TestLogoutEndsSessionServerSide(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	replay := c.cookie
	if rec := c.do("POST", "/api/v1/logout", nil); rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", rec.Code)
	}
	if c.cookie != nil {
		t.Fatal("logout did not clear the cookie")
	}
	thief := r.client()
	thief.cookie = replay
	wantError(t, thief.do("GET", "/api/v1/me", nil), 401, "unauthenticated")
	if rec := r.client().do("POST", "/api/v1/logout", nil); rec.Code != http.StatusNoContent {
		t.Fatalf("logout without a session: %d", rec.Code)
	}
}

func TestUnauthenticatedAndGarbageCookies(t *testing.T) {
	r := newRig(t, rigOptions{})
	routes := [][2]string{
		{"GET", "/api/v1/me"}, {"GET", "/api/v1/notes"}, {"POST", "/api/v1/notes"},
		{"GET", "/api/v1/notes/1"}, {"PUT", "/api/v1/notes/1"}, {"DELETE", "/api/v1/notes/1"},
		{"GET", "/api/v1/export"}, {"DELETE", "/api/v1/account"},
	}
	cookies := []string{"", "garbage", strings.Repeat("A", 4000), "\x00\xff", "a;b", `"quoted"`}
	for _, rt := range routes {
		for _, v := range cookies {
			c := r.client()
			rec := c.do(rt[0], rt[1], `{"title":"x","password":"correct horse"}`, "Cookie", "session="+v)
			wantError(t, rec, 401, "unauthenticated")
		}
	}
}

func TestSessionOfDeletedTenantIsSignedOut(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	tn, err := r.pool.Directory().Lookup(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.pool.Delete(t.Context(), tn.ID); err != nil {
		t.Fatal(err)
	}
	saved := c.cookie
	wantError(t, c.do("GET", "/api/v1/notes", nil), 401, "unauthenticated")
	if c.cookie != nil {
		t.Fatal("the dead session's cookie was not cleared")
	}
	c.cookie = saved
	if _, found, _ := r.store.Find(saved.Value); found {
		t.Fatal("the dead session is still stored")
	}
	wantRedirect(t, c.do("GET", "/notes", nil), "/login")
}

func TestSessionsSurviveRestart(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	restarted, err := New(r.cfg) // a new App and session manager over the same routing.db
	if err != nil {
		t.Fatal(err)
	}
	r.app = restarted
	if rec := c.do("GET", "/api/v1/me", nil); rec.Code != http.StatusOK {
		t.Fatalf("after restart: %d %s", rec.Code, rec.Body)
	}
}

func TestRequestPathWritesNoSessionRows(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	c.createNote("one", "")
	// PRAGMA data_version changes when another connection commits to
	// routing.db, so it sees every session write, whatever the store's code.
	conn, err := r.pool.Directory().DB().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	version := func() (v int64) {
		if err := conn.QueryRowContext(t.Context(), "PRAGMA data_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	for range 50 {
		if rec := c.do("GET", "/api/v1/notes", nil); rec.Code != http.StatusOK {
			t.Fatalf("list: %d", rec.Code)
		}
		c.do("GET", "/notes", nil)
	}
	if after := version(); after != before {
		t.Fatalf("100 signed-in requests wrote to routing.db (data_version %d, then %d)", before, after)
	}
}
