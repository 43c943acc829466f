package auth

import (
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Middleware loads the request's session before next and saves it (and sets
// the cookie) before the response is written.
//
// It is scs's LoadAndSave, step for step, written out so that a request
// pays less for it (every signed-in request does): the Vary value is
// shared, and the session cookie is found without net/http parsing every
// cookie into a *Cookie (see sessionToken).
func (s *Sessions) Middleware(next http.Handler) http.Handler {
	vary := []string{"Cookie"} // shared: an Add to it copies, as len == cap
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if v, ok := h["Vary"]; ok {
			h["Vary"] = append(v, "Cookie")
		} else {
			h["Vary"] = vary
		}
		ctx, err := s.sm.Load(r.Context(), sessionToken(r))
		if err != nil {
			s.sm.ErrorFunc(w, r, err)
			return
		}
		sr := r.WithContext(ctx)
		sw := &sessionWriter{ResponseWriter: w, request: sr, sessions: s}
		next.ServeHTTP(sw, sr)
		if !sw.written {
			s.commit(w, sr)
		}
	})
}

// commit saves the request's session if it changed, and sets or clears
// the cookie, as scs's LoadAndSave does before the response starts.
func (s *Sessions) commit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch s.sm.Status(ctx) {
	case scs.Modified:
		token, expiry, err := s.sm.Commit(ctx)
		if err != nil {
			s.sm.ErrorFunc(w, r, err)
			return
		}
		s.sm.WriteSessionCookie(ctx, w, token, expiry)
	case scs.Destroyed:
		s.sm.WriteSessionCookie(ctx, w, "", time.Time{})
	}
}

// sessionWriter commits the session when the response starts.
type sessionWriter struct {
	http.ResponseWriter
	request  *http.Request
	sessions *Sessions
	written  bool
}

// Write commits the session before the first byte.
func (sw *sessionWriter) Write(b []byte) (int, error) {
	if !sw.written {
		sw.sessions.commit(sw.ResponseWriter, sw.request)
		sw.written = true
	}
	return sw.ResponseWriter.Write(b)
}

// WriteHeader commits the session before the status is sent.
func (sw *sessionWriter) WriteHeader(code int) {
	if !sw.written {
		sw.sessions.commit(sw.ResponseWriter, sw.request)
		sw.written = true
	}
	sw.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (sw *sessionWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// sessionToken returns the value of r's session cookie, or "" if there is
// none: what r.Cookie(SessionCookie) gives, without its allocations when r
// carries one cookie, as an API client with a session does. It reads that
// cookie as net/http does (FuzzSessionToken checks it against r.Cookie).
// With more cookies it asks r.Cookie: net/http ignores every cookie of a
// request that sends more than a limit GODEBUG may change, and one cookie
// is within any positive limit.
func sessionToken(r *http.Request) string {
	lines := r.Header["Cookie"]
	if len(lines) == 0 {
		return ""
	}
	if len(lines) > 1 || strings.Contains(lines[0], ";") {
		if c, err := r.Cookie(SessionCookie); err == nil {
			return c.Value
		}
		return ""
	}
	name, val, _ := strings.Cut(textproto.TrimString(lines[0]), "=")
	if textproto.TrimString(name) != SessionCookie {
		return ""
	}
	if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
		val = val[1 : len(val)-1]
	}
	for i := 0; i < len(val); i++ {
		// net/http's validCookieValueByte.
		if b := val[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return ""
		}
	}
	return val
}
