package router

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// middleware wraps the routes with what every request goes through, outermost
// first: the request log, security headers, panic recovery, the body limit
// and cross-origin protection. Sessions and the user's store are per route
// (see routes.go).
func (a *App) middleware(routes http.Handler) http.Handler {
	h := a.crossOrigin(a.fenceGate(routes))
	h = a.limitBody(h)
	h = a.recoverPanics(h)
	h = securityHeaders(h)
	return a.logRequests(h)
}

// statusWriter remembers the status a handler answered with, and gives
// the connection its write deadline when the answer starts: the server's
// WriteTimeout would count from the request's arrival, which would leave
// a handler that waited (for a busy file, for the password queue) no time
// to answer, and an export none to stream. It also holds the request's
// requestInfo and the context that carries it, so that one allocation
// serves all three.
type statusWriter struct {
	http.ResponseWriter
	status  int
	wrote   bool
	info    requestInfo
	ctx     infoContext   // the request's context: its parent's, with info
	timeout time.Duration // before info.writeExtra
	// idHeader is the X-Request-Id value, here to save an allocation.
	idHeader [1]string
}

// WriteHeader records the first status sent.
func (w *statusWriter) WriteHeader(code int) {
	w.start(code)
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (w *statusWriter) Write(b []byte) (int, error) {
	w.start(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// writeDeadliner is what net/http's own ResponseWriter offers, reached
// without building a ResponseController on every request.
type writeDeadliner interface {
	SetWriteDeadline(time.Time) error
}

// start records the status and sets the write deadline, the first time.
func (w *statusWriter) start(code int) {
	if w.wrote || code < 200 {
		return
	}
	w.status, w.wrote = code, true
	deadline := time.Now().Add(w.timeout + w.writeExtra())
	// Walk the wrappers as http.ResponseController does, without its
	// allocations (an error made for every writer that cannot): a
	// ResponseWriter without a connection (a test recorder) has no deadline
	// to set.
	rw := w.ResponseWriter
	for {
		switch t := rw.(type) {
		case writeDeadliner:
			t.SetWriteDeadline(deadline) //nolint:errcheck // the connection is gone: nothing to do
			return
		case interface{ Unwrap() http.ResponseWriter }:
			rw = t.Unwrap()
		default:
			return
		}
	}
}

// writeExtra is the write time the answer gets beyond the timeout: what
// its handler set or, for the owner's answer forwarded, what its size (the
// owner's Content-Length) earns: the owner gave it as much (an export), and
// passing it on takes as long.
func (w *statusWriter) writeExtra() time.Duration {
	if !w.info.fromOwner {
		return w.info.writeExtra
	}
	n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return writeTimeFor(n)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests gives each request its id (see requestID) and its client
// address (see clientAddr), sends the id back in X-Request-Id, and once the
// request is answered logs one line (method, route pattern, status,
// duration, client address, tenant id and request_id) and counts it
// in the metrics. It logs no path, query or body, so no username, password
// or search text reaches the log.
//
// It runs on every request, so it allocates little: the requestInfo and
// the context that carries it (and the id) live in the statusWriter, and
// the log line is handed to the handler without the reflection and caller
// lookup of slog.Logger.
func (a *App) logRequests(next http.Handler) http.Handler {
	// New wrapped a.log's handler in requestIDHandler; the request log line
	// carries its request_id itself (see logRequest).
	log := a.log.Handler().(requestIDHandler).Handler
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, timeout: a.writeTimeout}
		sw.info.id = requestID(r)
		sw.info.client = a.clientOf(r)
		sw.idHeader[0] = sw.info.id
		w.Header()[RequestIDHeader] = sw.idHeader[:]
		sw.ctx = infoContext{Context: r.Context(), info: &sw.info}
		r = r.WithContext(&sw.ctx)
		next.ServeHTTP(sw, r)
		end := time.Now()
		elapsed := end.Sub(start)
		route := sw.info.route
		if route == "" {
			route = unmatchedRoute
		}
		a.metrics.observeRequest(r.Method, route, sw.status, elapsed)
		logRequest(log, r, end, route, sw.status, elapsed, &sw.info)
	})
}

// logRequest writes the request log line. It builds the record itself and
// gives it to the handler under the request-id wrapper, with request_id
// already in it: the line is the one slog.Logger.LogAttrs would write,
// without its caller lookup. A text log made by NewTextLogHandler takes
// the line pre-formatted instead. now is when the request was answered.
func logRequest(log slog.Handler, r *http.Request, now time.Time, route string, status int, elapsed time.Duration, info *requestInfo) {
	ctx := r.Context()
	if !log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	if t, ok := log.(*textLog); ok && t.writeRequest(now, r.Method, route, status, elapsed, info) {
		return
	}
	log.Handle(ctx, requestRecord(now, r.Method, route, status, elapsed, info)) //nolint:errcheck // as slog.Logger does: a log that fails has no one to tell
}

// requestRecord is the request log line as an slog.Record.
func requestRecord(now time.Time, method, route string, status int, elapsed time.Duration, info *requestInfo) slog.Record {
	rec := slog.NewRecord(now, slog.LevelInfo, "request", 0)
	rec.AddAttrs(
		slog.String("method", method), slog.String("route", route), slog.Int("status", status),
		slog.Duration("duration", elapsed), slog.String("client", info.client), slog.String("tenant", info.tenant),
		slog.String("request_id", info.id))
	return rec
}

// Header values set on many answers, each made once and shared by them
// all, as securityHeaders' are: net/http only reads a value, and
// Header.Set and Add replace or copy one rather than write into it (each
// has len == cap, so an append copies). They are never written into.
var (
	jsonContentType  = []string{"application/json"}
	plainContentType = []string{"text/plain; charset=utf-8"}
	noStore          = []string{"no-store"}
)

// securityHeaders sets the headers every response carries. The values are
// made once and shared by every response: net/http only reads them, and
// Header.Set and Add replace or copy a value rather than write into it.
func securityHeaders(next http.Handler) http.Handler {
	csp := []string{"default-src 'self'; frame-ancestors 'none'"}
	nosniff := []string{"nosniff"}
	referrer := []string{"same-origin"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Security-Policy"] = csp
		h["X-Content-Type-Options"] = nosniff
		h["Referrer-Policy"] = referrer
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into a logged 500 in the client's format,
// unless the response had already started, when only the log is left.
func (a *App) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // a sentinel panic value
				panic(v)
			}
			err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
			if sw, ok := w.(*statusWriter); ok && sw.wrote {
				a.log.ErrorContext(r.Context(), "panic after the response started",
					"method", r.Method, "route", infoOf(r).route, "err", err)
				return
			}
			a.fail(w, r, err)
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody refuses bodies over MaxBodyBytes: at once when Content-Length
// says so, otherwise when a handler reads past the limit.
func (a *App) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			a.fail(w, r, &http.MaxBytesError{Limit: MaxBodyBytes})
			return
		}
		if r.Body != nil && r.Body != http.NoBody { // nothing to limit on a GET
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
			if a.forwarder != nil && !a.keepBody(w, r) {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses state-changing requests that a browser says come
// from another origin (403 forbidden). Clients that send neither Origin nor
// Sec-Fetch-Site, such as curl, pass.
func (a *App) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, errForbidden)
	}))
	return cop.Handler(next)
}

// withSession loads the request's session before next and saves it after.
// Every answer of a route with a session may carry a signed-in user's data
// (or their cookie), so none may be kept by a browser or a shared cache.
//
// The header's value is shared by every response, as securityHeaders'
// are: a later Add (auth adds to it when it sets the cookie) copies it.
func (a *App) withSession(next http.Handler) http.Handler {
	h := a.sessions.Middleware(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Cache-Control"] = noStore
		h.ServeHTTP(w, r)
	})
}

// requireUser lets only signed-in requests through, with the user's store
// in the context while the handler runs. The handler answers into a buffer
// that is sent once the store is released, so that no client, however
// slowly it reads, holds a user's handle (and with it their account
// deletion) while its answer crosses the network. A session whose tenant is
// gone is ended and counts as signed out (401, or 303 to /login for pages).
func (a *App) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.signedIn(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.serveWithStore(w, r, id, next)
	})
}

// requireSession lets only requests with a signed-in session through, without
// acquiring the user's store (for account deletion, which must not hold it).
func (a *App) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.signedIn(r); err != nil {
			a.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// signedIn returns the tenant id of r's session, or errUnauthenticated.
func (a *App) signedIn(r *http.Request) (string, error) {
	id := a.sessions.TenantID(r.Context())
	if id == "" {
		return "", errUnauthenticated
	}
	infoOf(r).tenant = id
	return id, nil
}

// endDeadSession signs r's session out when err says its tenant no longer
// exists, and returns the error to answer with.
func (a *App) endDeadSession(r *http.Request, err error) error {
	if !errors.Is(err, tenant.ErrNotFound) {
		return err
	}
	if serr := a.sessions.SignOut(r.Context()); serr != nil {
		return serr
	}
	return errUnauthenticated
}
