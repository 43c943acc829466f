package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
)

// A request's session is read once, up front, as scs's LoadAndSave reads
// it, but from a store that can hand over the values it holds decoded
// (sessionValues: *SessionStore, from its cache) it is not loaded into scs
// until the request changes it (SignIn, SignOut): most requests only ask
// whose they are (TenantID), and loading a session into scs costs a copy
// of its bytes, a decode into a new map and half a dozen allocations more.
// A session never loaded into scs is unmodified, and is saved as scs saves
// an unmodified one: not at all. Over any other store (cluster mode's)
// every request loads its session into scs at once, as LoadAndSave does.

// sessionValues is what a SessionBackend may offer to be read without scs
// (see SessionStore.FindValues).
type sessionValues interface {
	FindValues(token string) (map[string]any, bool, error)
}

// sessionStateKey keys a request's *sessionState in its context.
type sessionStateKey struct{}

// ValueHolder is a request context with room for one more value. The
// Middleware puts the request's session there, when the room is free,
// instead of giving the request a context of its own, which would copy
// the whole http.Request (http.Request.WithContext) on every request. A
// router that makes each request's context itself can offer it.
//
// HoldValue stores val under key and reports whether it did: it does once
// per context, and only for a comparable key. From then on the context's
// Value answers val for key. The context belongs to one request; it is
// not safe for HoldValue to race with Value.
type ValueHolder interface {
	context.Context
	HoldValue(key, val any) bool
}

// sessionState is one request's session.
type sessionState struct {
	// carrier is the request's context, which carries this state: ctx,
	// or the request's own context when it held the state (ValueHolder).
	carrier  context.Context
	ctx      sessionContext
	sessions *Sessions
	token    string
	// values are the session's values as the store holds them (not to be
	// modified), until it is loaded.
	values map[string]any
	// mu guards loaded: scs's context holding the session, once loaded
	// (see load), after which scs alone answers for it.
	mu     sync.Mutex
	loaded context.Context
}

// sessionContext is a request's context carrying its sessionState: what
// context.WithValue would make, kept in the state to save an allocation.
type sessionContext struct {
	context.Context
	st *sessionState
}

// Value returns the state for sessionStateKey and asks the parent for any other
// key.
func (c *sessionContext) Value(key any) any {
	if key == (sessionStateKey{}) {
		return c.st
	}
	return c.Context.Value(key)
}

// state returns the session state s's Middleware put in ctx, or nil.
func (s *Sessions) state(ctx context.Context) *sessionState {
	if st, ok := ctx.Value(sessionStateKey{}).(*sessionState); ok && st.sessions == s {
		return st
	}
	return nil
}

// scsContext returns the context in which scs holds ctx's session, loading
// the session into it first if need be. Outside the Middleware it is ctx
// (where scs finds no session, and panics as it would have).
func (s *Sessions) scsContext(ctx context.Context) (context.Context, error) {
	if st := s.state(ctx); st != nil {
		return st.load()
	}
	return ctx, nil
}

// read reads the session at the start of the request: its values from a
// store that offers them, or into scs from any other.
func (st *sessionState) read() error {
	if vs := st.sessions.values; vs != nil {
		if st.token == "" {
			return nil
		}
		values, _, err := vs.FindValues(st.token)
		st.values = values
		return err
	}
	_, err := st.load()
	return err
}

// load loads the session into scs (once) and returns scs's context.
func (st *sessionState) load() (context.Context, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.loaded == nil {
		ctx, err := st.sessions.sm.Load(st.carrier, st.token)
		if err != nil {
			return nil, fmt.Errorf("load session: %w", err)
		}
		st.loaded, st.values = ctx, nil
	}
	return st.loaded, nil
}

// loadedContext returns scs's context if the session was loaded, else nil.
func (st *sessionState) loadedContext() context.Context {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.loaded
}

// Middleware reads the request's session before next and saves it (and
// sets the cookie) before the response is written, as scs's LoadAndSave
// does; see sessionState for what it spares most requests. The Vary value
// is shared, and the session cookie is found without net/http parsing
// every cookie into a *Cookie (see sessionToken).
func (s *Sessions) Middleware(next http.Handler) http.Handler {
	vary := []string{"Cookie"} // shared: an Add to it copies, as len == cap
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if v, ok := h["Vary"]; ok {
			h["Vary"] = append(v, "Cookie")
		} else {
			h["Vary"] = vary
		}
		sw := &sessionWriter{ResponseWriter: w}
		if sw.st = s.state(r.Context()); sw.st == nil {
			st := &sw.own
			st.sessions, st.token = s, sessionToken(r)
			carried := r
			if h, ok := r.Context().(ValueHolder); ok && h.HoldValue(sessionStateKey{}, st) {
				st.carrier = h
			} else {
				st.ctx = sessionContext{Context: r.Context(), st: st}
				st.carrier, carried = &st.ctx, r.WithContext(&st.ctx)
			}
			if err := st.read(); err != nil {
				s.sm.ErrorFunc(w, r, err)
				return
			}
			sw.st, r = st, carried
		}
		// else nested in another Middleware of s: the session is the one
		// it read, as scs's is.
		sw.request = r
		next.ServeHTTP(sw, r)
		if !sw.written {
			sw.st.commit(w, r)
		}
	})
}

// commit saves the request's session if it changed, and sets or clears
// the cookie, as scs's LoadAndSave does before the response starts. A
// session never loaded into scs did not change. It reports false when the
// session could not be saved: then it has answered with the error itself.
func (st *sessionState) commit(w http.ResponseWriter, r *http.Request) bool {
	ctx := st.loadedContext()
	if ctx == nil {
		return true
	}
	sm := st.sessions.sm
	switch sm.Status(ctx) {
	case scs.Modified:
		token, expiry, err := sm.Commit(ctx)
		if err != nil {
			sm.ErrorFunc(w, r, err)
			return false
		}
		sm.WriteSessionCookie(ctx, w, token, expiry)
	case scs.Destroyed:
		sm.WriteSessionCookie(ctx, w, "", time.Time{})
	}
	return true
}

// errSessionNotSaved is what a handler's writes get once its session could
// not be saved: the response is the error commit answered with.
var errSessionNotSaved = errors.New("auth: the session could not be saved; the response is its error")

// sessionWriter commits the session when the response starts. It holds
// the request's sessionState (own), to save an allocation. When the commit
// fails, the error answer is the response, and the handler's own status
// and body are dropped (scs's LoadAndSave would write both, one after the
// other, into one response).
type sessionWriter struct {
	http.ResponseWriter
	request *http.Request
	st      *sessionState // &own, unless nested
	written bool
	failed  bool // the commit failed and answered
	own     sessionState
}

// start commits the session before the response's first status or byte,
// once, and reports whether the handler's response may follow.
func (sw *sessionWriter) start() bool {
	if !sw.written {
		sw.written = true
		sw.failed = !sw.st.commit(sw.ResponseWriter, sw.request)
	}
	return !sw.failed
}

// Write commits the session before the first byte.
func (sw *sessionWriter) Write(b []byte) (int, error) {
	if !sw.start() {
		return 0, errSessionNotSaved
	}
	return sw.ResponseWriter.Write(b)
}

// WriteHeader commits the session before the status is sent.
func (sw *sessionWriter) WriteHeader(code int) {
	if sw.start() {
		sw.ResponseWriter.WriteHeader(code)
	}
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
