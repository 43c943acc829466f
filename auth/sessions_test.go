package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// signInMux signs in as t1 at POST /in, out at POST /out, and says who is
// signed in at GET /who.
func signInMux(t *testing.T, s *Sessions) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /in", func(w http.ResponseWriter, r *http.Request) {
		if err := s.SignIn(r.Context(), "t1"); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /out", func(w http.ResponseWriter, r *http.Request) {
		if err := s.SignOut(r.Context()); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("GET /who", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(s.TenantID(r.Context())))
	})
	return mux
}

// sessionsServer signs in at POST /in, out at POST /out and says who is
// signed in at GET /who.
func sessionsServer(t *testing.T, secure bool) (*Sessions, http.Handler) {
	t.Helper()
	store := newTestStore(t, openRoutingDB(t), SessionStoreConfig{})
	s := NewSessions(SessionsConfig{Store: store, Secure: secure})
	return s, s.Middleware(signInMux(t, s))
}

func sessionsDo(h http.Handler, method, path string, c *http.Cookie) (string, *http.Cookie) {
	req := httptest.NewRequest(method, path, nil)
	if c != nil {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			return rec.Body.String(), c
		}
	}
	return rec.Body.String(), nil
}

func TestSessionCookieAttributes(t *testing.T) {
	for _, secure := range []bool{false, true} {
		_, h := sessionsServer(t, secure)
		_, c := sessionsDo(h, "POST", "/in", nil)
		if c == nil {
			t.Fatal("sign-in set no cookie")
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure || c.Path != "/" {
			t.Errorf("secure=%v: cookie %+v", secure, c)
		}
		// The cookie lives as long as the session may; the store ends it
		// server-side after a week unused. It is not sent again on every
		// request, so it cannot be what measures idleness.
		if life := time.Until(c.Expires); life < SessionLifetime-time.Minute || life > SessionLifetime+time.Minute {
			t.Errorf("cookie lives %s; want the %s lifetime", life, SessionLifetime)
		}
		if _, again := sessionsDo(h, "GET", "/who", c); again != nil {
			t.Errorf("secure=%v: a request that changed nothing set the cookie again: %+v", secure, again)
		}
	}
}

func TestSessionSignInRenewsAndSignOutRefusesOldToken(t *testing.T) {
	_, h := sessionsServer(t, false)
	_, first := sessionsDo(h, "POST", "/in", nil)
	_, second := sessionsDo(h, "POST", "/in", first)
	if second == nil || second.Value == first.Value {
		t.Fatal("signing in again kept the token")
	}
	if who, _ := sessionsDo(h, "GET", "/who", first); who != "" {
		t.Fatalf("the token from before sign-in is still signed in as %q", who)
	}
	if who, _ := sessionsDo(h, "GET", "/who", second); who != "t1" {
		t.Fatalf("who = %q; want t1", who)
	}
	_, cleared := sessionsDo(h, "POST", "/out", second)
	if cleared == nil || cleared.MaxAge >= 0 {
		t.Fatalf("sign-out did not clear the cookie: %+v", cleared)
	}
	if who, _ := sessionsDo(h, "GET", "/who", second); who != "" {
		t.Fatalf("a replayed token after sign-out is signed in as %q", who)
	}
	if _, c := sessionsDo(h, "POST", "/out", nil); c == nil {
		t.Fatal("sign-out without a session should still clear the cookie")
	}
}

func TestSessionStoreErrorGoesToOnError(t *testing.T) {
	db := openRoutingDB(t)
	store := newTestStore(t, db, SessionStoreConfig{})
	var got error
	s := NewSessions(SessionsConfig{Store: store, OnError: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	}})
	h := s.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	db.Close()
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: "some-token"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusTeapot || got == nil {
		t.Fatalf("status %d, err %v", rec.Code, got)
	}
}
