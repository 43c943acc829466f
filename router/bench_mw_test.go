package router

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// benchServeApp is an App wired as serve wires it (metrics on, the request
// log formatted as text), over a fresh data directory with cheap hashing;
// the log goes nowhere.
func benchServeApp(b *testing.B, maxOpen int) *App {
	b.Helper()
	return benchServeAppLog(b, maxOpen, NewTextLogHandler(io.Discard))
}

// benchServeAppLog is benchServeApp with the log handler given.
func benchServeAppLog(b *testing.B, maxOpen int, h slog.Handler) *App {
	b.Helper()
	log := slog.New(LogHandler(h))
	return benchAppWith(b, maxOpen, log, log, NewMetrics(log))
}

// BenchmarkHealthz: GET /healthz through the whole App (request id,
// request log, metrics, security headers, cross-origin check, body limit,
// route) against a bare handler that writes the same answer (the
// baseline). The difference is what the middleware costs a request.
func BenchmarkHealthz(b *testing.B) {
	b.Run("baseline=bare-handler", func(b *testing.B) {
		bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte("ok\n")) //nolint:errcheck // a recorder
		})
		runHealthz(b, bare)
	})
	b.Run("app", func(b *testing.B) {
		runHealthz(b, benchServeApp(b, 8))
	})
	// The request log line through slog's own text handler, as before
	// NewTextLogHandler.
	b.Run("app-slog-text-log", func(b *testing.B) {
		runHealthz(b, benchServeAppLog(b, 8, slog.NewTextHandler(io.Discard, nil)))
	})
}

func runHealthz(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := serve(h, nil, "GET", "/healthz", ""); rec.Code != http.StatusOK {
				b.Fatalf("healthz: %d %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkHotRead: an authenticated GET /api/v1/notes/:id on a hot tenant
// through an App wired as serve wires it (metrics on), against a bare
// handler that writes a note-sized JSON answer (the baseline).
func BenchmarkHotRead(b *testing.B) {
	app := benchServeApp(b, 64)
	cookie := benchSignup(b, app, "reader")
	rec := serve(app, cookie, "POST", "/api/v1/notes", `{"title":"hello","body":"a note to read again and again"}`)
	if rec.Code != http.StatusCreated {
		b.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	path := rec.Header().Get("Location")
	b.Run("baseline=bare-handler", func(b *testing.B) {
		body := rec.Body.Bytes()
		bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body) //nolint:errcheck // a recorder
		})
		b.ReportAllocs()
		runReads(b, bare, nil, path)
	})
	b.Run("app", func(b *testing.B) {
		b.ReportAllocs()
		runReads(b, app, cookie, path)
	})
	// As net/http hands a request over: with a context that ends when the
	// client goes (httptest's never does), which the statements may watch.
	b.Run("app-request-context", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ctx, cancel := context.WithCancel(context.Background())
				req := httptest.NewRequestWithContext(ctx, "GET", path, nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				app.ServeHTTP(rec, req)
				cancel()
				if rec.Code != http.StatusOK {
					b.Fatalf("read: %d %s", rec.Code, rec.Body)
				}
			}
		})
	})
}

// BenchmarkSpreadRead: reads of random users' notes among 200 through a
// pool of 64 handles (mostly misses), against the hot read of one user
// through the same App (the baseline), as cubby bench --targets does over
// HTTP.
func BenchmarkSpreadRead(b *testing.B) {
	const users = 200
	app := benchServeApp(b, 64)
	cookies := make([]*http.Cookie, users)
	paths := make([]string, users)
	for u := range users {
		cookies[u] = benchSignup(b, app, fmt.Sprintf("spread%03d", u))
		rec := serve(app, cookies[u], "POST", "/api/v1/notes", `{"title":"hello","body":"a note to read"}`)
		if rec.Code != http.StatusCreated {
			b.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		paths[u] = rec.Header().Get("Location")
	}
	b.Run("baseline=hot-read", func(b *testing.B) {
		runReads(b, app, cookies[0], paths[0])
	})
	b.Run("200-users-64-open", func(b *testing.B) {
		var worker atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(worker.Add(1), 13))
			for pb.Next() {
				u := rng.IntN(users)
				if rec := serve(app, cookies[u], "GET", paths[u], ""); rec.Code != http.StatusOK {
					b.Fatalf("read: %d %s", rec.Code, rec.Body)
				}
			}
		})
	})
}
