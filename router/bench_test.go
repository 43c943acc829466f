package router

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/julienschmidt/httprouter"
	_ "modernc.org/sqlite"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/auth/authtest"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// benchApp is an App over a fresh data directory with cheap hashing and a
// request log that goes nowhere, as a benchmark wants.
func benchApp(b *testing.B, maxOpen int) *App {
	b.Helper()
	return benchAppWith(b, maxOpen, slog.New(slog.NewTextHandler(io.Discard, nil)), slog.Default(), nil)
}

// benchAppWith is benchApp with the App's logger, the pool's logger and
// the metrics (nil: none) given.
func benchAppWith(b *testing.B, maxOpen int, log, poolLog *slog.Logger, metrics *Metrics) *App {
	b.Helper()
	d, err := datadir.Open(context.Background(), b.TempDir(), datadir.Options{
		Migrations: tenanttest.Migrations(b, "../schema.sql"), Logger: log, Create: true,
		Pool:     tenant.Config{MaxOpen: maxOpen, Logger: poolLog},
		Sessions: auth.SessionStoreConfig{CleanupInterval: -1},
		Hasher:   auth.NewHasher(authtest.Params(), 0),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := d.Close(); err != nil {
			b.Errorf("close data directory: %v", err)
		}
	})
	app, err := New(Config{Pool: d.Pool(), Accounts: d.Accounts(), SessionStore: d.Sessions(),
		DeviceKey: d.DeviceKey(), Logger: log, Metrics: metrics})
	if err != nil {
		b.Fatal(err)
	}
	return app
}

// benchSignup signs a user up and returns the session cookie.
func benchSignup(b *testing.B, app *App, name string) *http.Cookie {
	b.Helper()
	rec := serve(app, nil, "POST", "/api/v1/signup", fmt.Sprintf(`{"username":%q,"password":"benchmark-password"}`, name))
	if rec.Code != http.StatusCreated {
		b.Fatalf("signup %s: %d %s", name, rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.SessionCookie {
			return c
		}
	}
	b.Fatal("no session cookie")
	return nil
}

func serve(h http.Handler, cookie *http.Cookie, method, path, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// BenchmarkTenancyOverhead: an authenticated GET /api/v1/notes/:id through
// the whole router on a hot tenant, against the same handler behind the
// same router and middleware (request log, headers, cross-origin check,
// body limit) wired to one pre-opened tenant store, with no session and no
// pool lookup (the baseline). The difference is what tenancy costs.
func BenchmarkTenancyOverhead(b *testing.B) {
	app := benchApp(b, 64)
	cookie := benchSignup(b, app, "reader")
	rec := serve(app, cookie, "POST", "/api/v1/notes", `{"title":"hello","body":"a note to read again and again"}`)
	if rec.Code != http.StatusCreated {
		b.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	path := rec.Header().Get("Location")

	b.Run("baseline=no-session-no-pool", func(b *testing.B) {
		t, _ := app.pool.Directory().Lookup(context.Background(), "reader")
		// Acquired as often as the full router's first requests acquire it,
		// so that this handle too may borrow a second connection for the
		// parallel reads (a handle does once it has served 32 requests).
		for range 32 {
			_, release, err := app.pool.Acquire(context.Background(), t.ID)
			if err != nil {
				b.Fatal(err)
			}
			release()
		}
		store, release, err := app.pool.Acquire(context.Background(), t.ID)
		if err != nil {
			b.Fatal(err)
		}
		defer release()
		r := httprouter.New()
		handle(r, "GET", "/api/v1/notes/:id", func(w http.ResponseWriter, r *http.Request) {
			infoOf(r).store = store
			app.apiGetNote(w, r)
		})
		// The same request as the full router's, cookie and all, so that
		// both sides build the same requests; here nothing reads it.
		runReads(b, app.middleware(r), cookie, path)
	})
	b.Run("full-router", func(b *testing.B) {
		runReads(b, app, cookie, path)
	})
}

func runReads(b *testing.B, h http.Handler, cookie *http.Cookie, path string) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := serve(h, cookie, "GET", path, ""); rec.Code != http.StatusOK {
				b.Fatalf("read: %d %s", rec.Code, rec.Body)
			}
		}
	})
}

// sharedNotes is the baseline for write scaling: every user's notes in one
// SQLite file, behind a handler that does the same JSON work as the API.
type sharedNotes struct{ db *sqlx.DB }

func newSharedNotes(b *testing.B) *sharedNotes {
	path := filepath.Join(b.TempDir(), "shared.db")
	db, err := sqlx.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(8)
	db.MustExec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL,
		body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
		CREATE INDEX notes_user ON notes (user_id, created_at DESC, id DESC);
		CREATE VIRTUAL TABLE notes_fts USING fts5 (title, body, content = 'notes', content_rowid = 'id');
		CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
			INSERT INTO notes_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
		END;`)
	return &sharedNotes{db: db}
}

func (s *sharedNotes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct{ Title, Body string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	res, err := s.db.ExecContext(r.Context(),
		"INSERT INTO notes (user_id, title, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
		r.Header.Get("X-User"), in.Title, in.Body, now, now)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	id, _ := res.LastInsertId()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"id": id, "title": in.Title, "body": in.Body, "created_at": now, "updated_at": now})
}

// BenchmarkWriteScaling: 64 users creating notes at once, a file per user
// through the whole API, against one shared SQLite file holding every
// user's notes (the baseline). Each op is one note created; p99 is per
// request.
func BenchmarkWriteScaling(b *testing.B) {
	const users = 64
	body := `{"title":"a note","body":"written by one of many users at the same time"}`
	b.Run("baseline=one-shared-file", func(b *testing.B) {
		s := newSharedNotes(b)
		runWriters(b, users, func(u int) *http.Request {
			req := httptest.NewRequest("POST", "/api/v1/notes", strings.NewReader(body))
			req.Header.Set("X-User", fmt.Sprint(u))
			return req
		}, s)
	})
	b.Run("one-user-64-writers", func(b *testing.B) {
		app := benchApp(b, users*2)
		cookie := benchSignup(b, app, "writer")
		runWriters(b, users, func(int) *http.Request {
			req := httptest.NewRequest("POST", "/api/v1/notes", strings.NewReader(body))
			req.AddCookie(cookie)
			return req
		}, app)
	})
	b.Run("file-per-user", func(b *testing.B) {
		app := benchApp(b, users*2)
		cookies := make([]*http.Cookie, users)
		for u := range cookies {
			cookies[u] = benchSignup(b, app, fmt.Sprintf("writer%02d", u))
		}
		runWriters(b, users, func(u int) *http.Request {
			req := httptest.NewRequest("POST", "/api/v1/notes", strings.NewReader(body))
			req.AddCookie(cookies[u])
			return req
		}, app)
	})
}

// runWriters runs b.N requests from users goroutines at once and reports
// the p99 latency.
func runWriters(b *testing.B, users int, mk func(u int) *http.Request, h http.Handler) {
	var (
		next atomic.Int64
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, b.N)
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	for u := range users {
		wg.Go(func() {
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, mk(u))
				if rec.Code != http.StatusCreated {
					b.Errorf("write: %d %s", rec.Code, bytes.TrimSpace(rec.Body.Bytes()))
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	}
}
