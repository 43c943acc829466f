package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

func TestSessionTokenReadsCookiesAsNetHTTP(t *testing.T) {
	tests := []struct {
		name  string
		lines []string // Cookie headers
		want  string
	}{
		{"none", nil, ""},
		{"the session cookie", []string{"session=abc-DEF_123"}, "abc-DEF_123"},
		{"spaces around", []string{"  session = abc \t"}, " abc"},
		{"spaces around the line", []string{"  session=abc \t"}, "abc"},
		{"quoted", []string{`session="abc"`}, "abc"},
		{"a lone quote", []string{`session="`}, ""},
		{"an invalid byte", []string{"session=a\\b"}, ""},
		{"empty value", []string{"session="}, ""},
		{"no value", []string{"session"}, ""},
		{"another cookie", []string{"other=abc"}, ""},
		{"a name that only starts alike", []string{"sessionx=abc"}, ""},
		{"among others", []string{"a=1; session=abc; b=2"}, "abc"},
		{"the first of two", []string{"session=abc; session=def"}, "abc"},
		{"an invalid first is skipped", []string{`session=a"b; session=def`}, "def"},
		{"in a second header", []string{"a=1", "session=abc"}, "abc"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		for _, l := range tt.lines {
			req.Header.Add("Cookie", l)
		}
		if got := sessionToken(req); got != tt.want {
			t.Errorf("%s: sessionToken = %q; want %q", tt.name, got, tt.want)
		}
		if got := netHTTPToken(req); got != tt.want {
			t.Errorf("%s: r.Cookie = %q; the table is wrong", tt.name, got)
		}
	}
}

func netHTTPToken(r *http.Request) string {
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// The session cookie of a request with one cookie is read on every
// signed-in request: it must not allocate.
func TestSessionTokenOfOneCookieAllocatesNothing(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", "session=kZ3r9cXbq2mH7wQpL0vT5yN8aE4sD6fG1jU_-oIxCk")
	if n := testing.AllocsPerRun(100, func() { sessionToken(req) }); n != 0 {
		t.Errorf("sessionToken: %v allocations; want 0", n)
	}
}

func FuzzSessionToken(f *testing.F) {
	f.Add("session=abc", "")
	f.Add(` session="abc" `, "")
	f.Add("session=a\x7fb", "")
	f.Add("x=1; session=abc", "session=def")
	f.Fuzz(func(t *testing.T, first, second string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["Cookie"] = []string{first}
		if second != "" {
			req.Header["Cookie"] = append(req.Header["Cookie"], second)
		}
		if got, want := sessionToken(req), netHTTPToken(req); got != want {
			t.Errorf("Cookie %q: sessionToken = %q; r.Cookie gives %q", req.Header["Cookie"], got, want)
		}
	})
}

// The middleware adds Cookie to a Vary already set, and a value added
// after it does not reach the next response.
func TestSessionsMiddlewareVary(t *testing.T) {
	_, h := sessionsServer(t, false)
	pre := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("pre") {
			w.Header().Set("Vary", "Origin")
		}
		h.ServeHTTP(w, r)
		w.Header().Add("Vary", "Accept")
	})
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/who?pre", []string{"Origin", "Cookie", "Accept"}},
		{"/who", []string{"Cookie", "Accept"}},
		{"/who", []string{"Cookie", "Accept"}},
	} {
		rec := httptest.NewRecorder()
		pre.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if got := rec.Header()["Vary"]; !slices.Equal(got, tt.want) {
			t.Errorf("%s: Vary %q; want %q", tt.path, got, tt.want)
		}
	}
}

// scsOnly is a SessionBackend that offers nothing beyond one, as cluster
// mode's does: every request loads its session into scs.
type scsOnly struct{ SessionBackend }

// sessionsOver serves, over backend: POST /in (signs in as t1), POST /out,
// GET /who (the tenant) and POST /switch (the tenant, then signs in as t2
// and says the tenant again).
func sessionsOver(t *testing.T, backend SessionBackend, onError func(http.ResponseWriter, *http.Request, error)) http.Handler {
	t.Helper()
	s := NewSessions(SessionsConfig{Store: backend, OnError: onError})
	return s.Middleware(switchMux(t, s))
}

// switchMux is signInMux with POST /switch.
func switchMux(t *testing.T, s *Sessions) *http.ServeMux {
	mux := signInMux(t, s)
	mux.HandleFunc("POST /switch", func(w http.ResponseWriter, r *http.Request) {
		before := s.TenantID(r.Context())
		if err := s.SignIn(r.Context(), "t2"); err != nil {
			t.Error(err)
		}
		w.Write([]byte(before + " " + s.TenantID(r.Context())))
	})
	return mux
}

// holdingContext is a ValueHolder, as the router's request contexts are.
type holdingContext struct {
	context.Context
	key, val any
	req      *http.Request // the request whose context it is
}

func (c *holdingContext) HoldValue(key, val any) bool {
	if c.key != nil {
		return false
	}
	c.key, c.val = key, val
	return true
}

func (c *holdingContext) Value(key any) any {
	if c.key != nil && key == c.key {
		return c.val
	}
	return c.Context.Value(key)
}

// sessionsHeld is sessionsOver with each request's context a ValueHolder:
// the handlers must get the very request the Middleware got, its session
// held in its context rather than in a copy's.
func sessionsHeld(t *testing.T, backend SessionBackend) http.Handler {
	t.Helper()
	s := NewSessions(SessionsConfig{Store: backend})
	mux := switchMux(t, s)
	inner := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().(*holdingContext); !ok || c.req != r || c.key == nil {
			t.Errorf("%s %s: the Middleware copied the request or held nothing", r.Method, r.URL.Path)
		}
		mux.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &holdingContext{Context: r.Context()}
		r = r.WithContext(c)
		c.req = r
		inner.ServeHTTP(w, r)
	})
}

// A session read without scs (from a *SessionStore) answers as one loaded
// into scs (from any other backend) along sign-in, reads, a switch of
// tenant within a request, and sign-out; and so does each held in the
// request's own context (a ValueHolder) rather than a copy's.
func TestSessionsReadWithoutScsAnswerAsScs(t *testing.T) {
	for _, tt := range []struct {
		name    string
		backend func(*SessionStore) SessionBackend
		held    bool
	}{
		{"store", func(s *SessionStore) SessionBackend { return s }, false},
		{"scs", func(s *SessionStore) SessionBackend { return scsOnly{s} }, false},
		{"store, held", func(s *SessionStore) SessionBackend { return s }, true},
		{"scs, held", func(s *SessionStore) SessionBackend { return scsOnly{s} }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			backend := tt.backend(newTestStore(t, openRoutingDB(t), SessionStoreConfig{}))
			h := sessionsOver(t, backend, nil)
			if tt.held {
				h = sessionsHeld(t, backend)
			}
			if who, c := sessionsDo(h, "GET", "/who", nil); who != "" || c != nil {
				t.Fatalf("no session: who %q, cookie %+v", who, c)
			}
			_, first := sessionsDo(h, "POST", "/in", nil)
			if first == nil {
				t.Fatal("sign-in set no cookie")
			}
			if who, c := sessionsDo(h, "GET", "/who", first); who != "t1" || c != nil {
				t.Fatalf("read: who %q, cookie %+v; want t1 and no cookie", who, c)
			}
			got, second := sessionsDo(h, "POST", "/switch", first)
			if got != "t1 t2" || second == nil || second.Value == first.Value {
				t.Fatalf("switch: %q, cookie %+v; want \"t1 t2\" under a new token", got, second)
			}
			if who, _ := sessionsDo(h, "GET", "/who", first); who != "" {
				t.Fatalf("the token from before the switch is signed in as %q", who)
			}
			if who, _ := sessionsDo(h, "GET", "/who", second); who != "t2" {
				t.Fatalf("after the switch: who %q; want t2", who)
			}
			if _, cleared := sessionsDo(h, "POST", "/out", second); cleared == nil || cleared.MaxAge >= 0 {
				t.Fatalf("sign-out did not clear the cookie: %+v", cleared)
			}
			if who, _ := sessionsDo(h, "GET", "/who", second); who != "" {
				t.Fatalf("after sign-out: who %q", who)
			}
		})
	}
}

// Session data that does not decode is an error before the handler runs,
// read with scs or without.
func TestSessionsUndecodableSessionGoesToOnError(t *testing.T) {
	for _, wrap := range []bool{false, true} {
		db := openRoutingDB(t)
		store := newTestStore(t, db, SessionStoreConfig{})
		if err := store.store(hashToken("bad"), []byte{0x7f, 1, 2}, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		var backend SessionBackend = store
		if wrap {
			backend = scsOnly{store}
		}
		var got error
		h := sessionsOver(t, backend, func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			w.WriteHeader(http.StatusTeapot)
		})
		req := httptest.NewRequest("GET", "/who", nil)
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: "bad"})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusTeapot || got == nil {
			t.Errorf("scs=%v: status %d, err %v", wrap, rec.Code, got)
		}
	}
}
