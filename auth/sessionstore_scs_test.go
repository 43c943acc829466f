package auth

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

// sessionApp is a SessionManager over a SessionStore behind a tiny handler,
// driven with httptest the way the router will drive it.
type sessionApp struct {
	store   *SessionStore
	handler http.Handler
	// writes counts the session rows written to the database since the
	// app was made.
	writes func() int
}

// newSessionApp wires scs with cubby's cookie lifetimes to a store over db
// whose clock runs offset ahead of the real one (scs itself reads time.Now).
func newSessionApp(t *testing.T, db *sql.DB, offset *atomic.Int64) *sessionApp {
	t.Helper()
	store := newTestStore(t, db, SessionStoreConfig{
		Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
	})
	sm := scs.New()
	sm.Store = store
	sm.Codec = SessionCodec{}
	sm.Lifetime = 30 * 24 * time.Hour
	sm.IdleTimeout = 7 * 24 * time.Hour
	sm.Cookie.Name = "session"

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		sm.Put(r.Context(), SessionTenantKey, "tenant-1")
	})
	mux.HandleFunc("POST /note", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "flash", "saved")
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(sm.GetString(r.Context(), SessionTenantKey)))
	})
	return &sessionApp{store: store, handler: sm.LoadAndSave(mux), writes: countWrites(t, db)}
}

// do sends one request carrying cookie (if any) and returns the body and
// the session cookie set in the response (nil if none).
func (a *sessionApp) do(t *testing.T, method, path string, cookie *http.Cookie) (string, *http.Cookie) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, path, rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == "session" {
			return rec.Body.String(), c
		}
	}
	return rec.Body.String(), nil
}

func TestSessionManagerIdleRefreshesCoalesce(t *testing.T) {
	db := openRoutingDB(t)
	var offset atomic.Int64
	app := newSessionApp(t, db, &offset)

	_, cookie := app.do(t, "POST", "/login", nil)
	if cookie == nil {
		t.Fatal("login set no session cookie")
	}
	afterLogin := app.writes()
	if afterLogin != 1 {
		t.Fatalf("login made %d writes, want 1", afterLogin)
	}
	for i := range 100 {
		body, c := app.do(t, "GET", "/whoami", cookie)
		if body != "tenant-1" {
			t.Fatalf("request %d: tenant = %q, want tenant-1", i, body)
		}
		if c == nil || c.Value != cookie.Value {
			t.Fatalf("request %d: idle refresh did not reissue the same cookie", i)
		}
	}
	if got := app.writes() - afterLogin; got > 1 {
		t.Fatalf("100 idle refreshes made %d writes, want at most 1", got)
	}

	before := app.writes()
	app.do(t, "POST", "/note", cookie)
	if got := app.writes() - before; got != 1 {
		t.Fatalf("a Put made %d writes, want 1", got)
	}

	for _, tok := range rowTokens(t, db) {
		if tok == cookie.Value {
			t.Fatal("routing.db holds a live cookie value")
		}
	}
}

func TestSessionManagerSessionSurvivesRestart(t *testing.T) {
	db := openRoutingDB(t)
	var offset atomic.Int64
	_, cookie := newSessionApp(t, db, &offset).do(t, "POST", "/login", nil)

	restarted := newSessionApp(t, db, &offset)
	for range 10 {
		if body, _ := restarted.do(t, "GET", "/whoami", cookie); body != "tenant-1" {
			t.Fatalf("after restart: tenant = %q, want tenant-1", body)
		}
	}
	if w := restarted.writes(); w != 0 {
		t.Fatalf("refreshes after restart made %d writes, want 0", w)
	}
}

func TestSessionManagerSessionExpiresWhenIdle(t *testing.T) {
	db := openRoutingDB(t)
	var offset atomic.Int64
	app := newSessionApp(t, db, &offset)
	_, cookie := app.do(t, "POST", "/login", nil)
	for range 5 {
		app.do(t, "GET", "/whoami", cookie)
	}

	// Just past the 7-day idle timeout, by the stores' clock.
	offset.Store(int64(7*24*time.Hour + time.Minute))
	if body, _ := app.do(t, "GET", "/whoami", cookie); body != "" {
		t.Fatalf("idle session still signed in as %q (cache)", body)
	}
	if body, _ := newSessionApp(t, db, &offset).do(t, "GET", "/whoami", cookie); body != "" {
		t.Fatalf("idle session still signed in as %q (database)", body)
	}
}

func TestSessionManagerDeleteTenantSignsOut(t *testing.T) {
	db := openRoutingDB(t)
	var offset atomic.Int64
	app := newSessionApp(t, db, &offset)
	_, phone := app.do(t, "POST", "/login", nil)
	_, laptop := app.do(t, "POST", "/login", nil)

	n, err := app.store.DeleteTenant(t.Context(), "tenant-1")
	if err != nil || n != 2 {
		t.Fatalf("DeleteTenant = %d, %v; want 2, nil", n, err)
	}
	for _, c := range []*http.Cookie{phone, laptop} {
		if body, _ := app.do(t, "GET", "/whoami", c); body != "" {
			t.Fatalf("deleted tenant's session still signed in as %q", body)
		}
	}
}
