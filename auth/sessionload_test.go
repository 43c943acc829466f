package auth

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
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
