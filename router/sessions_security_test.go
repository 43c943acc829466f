package router

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/auth"
)

// plantedSession returns a live session token that an attacker holds:
// their own, from a signup of their own, or one they made up.
func plantedSession(t *testing.T, r *rig, attacker string) *http.Cookie {
	t.Helper()
	if attacker == "" {
		return &http.Cookie{Name: auth.SessionCookie, Value: "attacker-chosen-token-0123456789abcdef"}
	}
	c := r.client()
	c.signup(attacker, "mallory's password")
	return c.cookie
}

// A token the attacker knows before the victim signs in (planted in the
// victim's browser) is worth nothing after it: sign-in, by form or API, by
// signup or login, issues a new token, and the planted one reaches neither
// the victim's account nor the attacker's any more.
func TestSessionFixationPlantedTokenIsReplacedAtSignIn(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.client().signup("alice", "correct horse")
	signIns := []struct {
		how string
		do  func(c *client, name string) *httptest.ResponseRecorder
	}{
		{"api login", func(c *client, _ string) *httptest.ResponseRecorder {
			return c.do("POST", "/api/v1/login", `{"username":"alice","password":"correct horse"}`)
		}},
		{"html login", func(c *client, _ string) *httptest.ResponseRecorder {
			return c.form("/login", "username", "alice", "password", "correct horse")
		}},
		{"api signup", func(c *client, name string) *httptest.ResponseRecorder {
			return c.do("POST", "/api/v1/signup", map[string]string{"username": name, "password": "victim password"})
		}},
		{"html signup", func(c *client, name string) *httptest.ResponseRecorder {
			return c.form("/signup", "username", name, "password", "victim password")
		}},
	}
	for i, s := range signIns {
		for _, live := range []bool{true, false} {
			attacker := ""
			if live {
				attacker = fmt.Sprint("mallory", i)
			}
			t.Run(fmt.Sprintf("%s over a live token %v", s.how, live), func(t *testing.T) {
				planted := plantedSession(t, r, attacker)
				c := r.client()
				c.cookie = planted
				if rec := s.do(c, fmt.Sprintf("victim%d%v", i, live)); rec.Code >= 400 {
					t.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
				}
				if c.cookie == nil || c.cookie.Value == planted.Value {
					t.Fatal("sign-in kept the planted token")
				}
				if rec := c.do("GET", "/api/v1/me", nil); rec.Code != http.StatusOK {
					t.Fatalf("the new token does not work: %d", rec.Code)
				}
				thief := r.client()
				thief.cookie = planted
				wantError(t, thief.do("GET", "/api/v1/me", nil), 401, "unauthenticated")
			})
		}
	}
}

// A cookie changed in any way is no session at all, and trying one does
// not end the real session.
func TestSessionTamperedCookieIsRefused(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	c.createNote("private", "")
	v := c.cookie.Value
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tampered := range []string{
		flip(v, 0), flip(v, len(v)/2), flip(v, len(v)-1), v + "A", v[:len(v)-1], strings.ToUpper(v),
		strings.ToLower(v), v + v, " " + v, v + "\x00",
	} {
		if tampered == v {
			continue
		}
		rec := r.client().do("GET", "/api/v1/notes", nil, "Cookie", auth.SessionCookie+"="+tampered)
		if rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "private") {
			t.Errorf("tampered cookie %q: %d %s", tampered, rec.Code, rec.Body)
		}
	}
	if rec := c.do("GET", "/api/v1/notes", nil); rec.Code != http.StatusOK {
		t.Fatalf("the real session died: %d", rec.Code)
	}
}

// After logout, by form or API, the old token is refused, also by a
// restarted server whose session cache starts empty.
func TestSessionReplayAfterLogoutIsRefusedEvenAfterRestart(t *testing.T) {
	r := newRig(t, rigOptions{})
	api, html := r.client(), r.client()
	api.signup("alice", "correct horse")
	html.signup("bob", "battery staple")
	apiToken, htmlToken := api.cookie, html.cookie
	if rec := api.do("POST", "/api/v1/logout", nil); rec.Code != http.StatusNoContent {
		t.Fatalf("api logout: %d", rec.Code)
	}
	wantRedirect(t, html.form("/logout"), "/")
	if html.cookie != nil {
		t.Fatal("html logout kept the cookie")
	}
	restarted := *r
	restarted.restart(t, nil)
	for _, app := range []*rig{r, &restarted} {
		for _, token := range []*http.Cookie{apiToken, htmlToken} {
			c := app.client()
			c.cookie = token
			wantError(t, c.do("GET", "/api/v1/me", nil), 401, "unauthenticated")
			c.cookie = token
			wantRedirect(t, c.do("GET", "/notes", nil), "/login")
		}
	}
}

// restart gives r a new session store (with clock now, nil for the wall
// clock) and App over the same routing.db and pool, as a restarted server
// has: nothing is remembered but the database.
func (r *rig) restart(t *testing.T, now func() time.Time) {
	t.Helper()
	r.store = auth.NewSessionStore(r.pool.Directory().DB(), auth.SessionStoreConfig{CleanupInterval: -1, Now: now})
	r.cfg.SessionStore = r.store
	app, err := New(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.app = app
}

// A session idle for longer than the idle timeout, by the store's clock,
// is signed out, from the cache and from the database alike.
func TestSessionIdlePastTimeoutIsSignedOut(t *testing.T) {
	var ahead atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	r := newRig(t, rigOptions{sessionNow: now})
	c := r.client()
	c.signup("alice", "correct horse")
	ahead.Store(int64(auth.SessionIdleTimeout - time.Hour))
	if rec := c.do("GET", "/api/v1/me", nil); rec.Code != http.StatusOK {
		t.Fatalf("a session idle for less than the timeout: %d", rec.Code)
	}
	// Use keeps a session alive past the first week...
	ahead.Store(int64(auth.SessionIdleTimeout + time.Minute))
	if rec := c.do("GET", "/api/v1/me", nil); rec.Code != http.StatusOK {
		t.Fatalf("a session used an hour ago: %d", rec.Code)
	}
	token := c.cookie
	// ...and a week without use ends it.
	ahead.Store(int64(2*auth.SessionIdleTimeout + 2*time.Minute))
	wantError(t, c.do("GET", "/api/v1/me", nil), 401, "unauthenticated")
	r.restart(t, now) // a fresh cache: the row itself has expired
	c.cookie = token
	wantError(t, c.do("GET", "/api/v1/me", nil), 401, "unauthenticated")
}

// A session row whose expiry has passed in routing.db (as the cleanup job
// or a long outage finds it) signs no one in after a restart, and the
// cookie is not revived by using it.
func TestSessionExpiredInDatabaseIsSignedOut(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	res, err := r.pool.Directory().DB().Exec("UPDATE auth_sessions SET expires_ms = ?", time.Now().Add(-24*time.Hour).UnixMilli())
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("expire the session row: %d rows, %v", n, err)
	}
	r.restart(t, nil)
	token := c.cookie
	wantError(t, c.do("GET", "/api/v1/me", nil), 401, "unauthenticated")
	c.cookie = token
	wantRedirect(t, c.do("GET", "/notes", nil), "/login")
	c.cookie = token
	wantError(t, c.do("GET", "/api/v1/notes", nil), 401, "unauthenticated")
}

// A session whose account was deleted reaches nothing, not even the new
// account that later takes the same name.
func TestSessionOfDeletedUserNeverReachesANewAccountOfTheSameName(t *testing.T) {
	r := newRig(t, rigOptions{})
	old := r.client()
	old.signup("alice", "correct horse")
	old.createNote("old alice's note", "")
	tn, err := r.pool.Directory().Lookup(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.pool.Delete(t.Context(), tn.ID); err != nil { // the sessions stay behind
		t.Fatal(err)
	}
	fresh := r.client()
	fresh.signup("alice", "a new password")
	fresh.createNote("new alice's note", "")
	token := old.cookie
	for _, path := range []string{"/api/v1/me", "/api/v1/notes", "/api/v1/notes/1", "/api/v1/export"} {
		old.cookie = token
		wantError(t, old.do("GET", path, nil), 401, "unauthenticated")
	}
	old.cookie = token
	wantRedirect(t, old.do("GET", "/notes", nil), "/login")
	got := decode[notesJSON](t, fresh.do("GET", "/api/v1/notes", nil))
	if len(got.Notes) != 1 || got.Notes[0].Title != "new alice's note" {
		t.Fatalf("the new alice sees %+v", got.Notes)
	}
}
