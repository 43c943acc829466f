package router

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/auth/authtest"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// rig is an App over a fresh data directory, opened as serve opens one
// (datadir.Open), with cheap password hashing and a log the test can read.
type rig struct {
	t   *testing.T
	app *App
	// handler is app behind contractHandler: what every test request goes
	// through, so that each /api/ exchange is checked against openapi.json.
	handler http.Handler
	dir     string
	data    *datadir.DataDir
	pool    *tenant.Pool
	store   *auth.SessionStore
	logs    *lockedBuffer
	cfg     Config
}

type rigOptions struct {
	signupClosed bool
	// pool overrides the pool's config; an empty Dir is a fresh temp dir
	// and nil Migrations are ../schema.sql.
	pool tenant.Config
	// hasher replaces the cheap test hasher.
	hasher *auth.Hasher
	// sessionNow is the session store's clock (default time.Now).
	sessionNow func() time.Time
	// throttle sets the login throttle's limits (zero: the defaults).
	throttle auth.ThrottleConfig
	// signupLimit is accounts per client address per hour (zero: none).
	signupLimit int
	// deleteWait bounds an account deletion's wait (zero: the default).
	deleteWait time.Duration
	// trustedProxies are the App's trusted proxies.
	trustedProxies []netip.Prefix
	// metrics, if set, is the App's Metrics (give its ObserveOpen to
	// pool.OnOpen).
	metrics *Metrics
	// writeTimeout is the App's Config.WriteTimeout (zero: the default).
	writeTimeout time.Duration
}

func newRig(t *testing.T, opts rigOptions) *rig {
	t.Helper()
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := openData(t, opts, log)
	cfg := Config{
		Pool: d.Pool(), Accounts: d.Accounts(), SessionStore: d.Sessions(), DeviceKey: d.DeviceKey(), Logger: log,
		TrustedProxies: opts.trustedProxies,
		Metrics:        opts.metrics, WriteTimeout: opts.writeTimeout,
	}
	app, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, app: app, dir: d.Path(), data: d, pool: d.Pool(), store: d.Sessions(), logs: logs, cfg: cfg}
	// r.app, not app: a test may restart the App.
	r.handler = contractHandler(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.app.ServeHTTP(w, req)
	}))
	return r
}

// openData opens the rig's data directory, closed when the test ends. The
// accounts log to log; the pool keeps the logger opts.pool gives it
// (slog.Default() if none).
func openData(t *testing.T, opts rigOptions, log *slog.Logger) *datadir.DataDir {
	t.Helper()
	pc := opts.pool
	dir := pc.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	ms := pc.Migrations
	if ms == nil {
		ms = tenanttest.Migrations(t, "../schema.sql")
	}
	if pc.Logger == nil {
		pc.Logger = slog.Default()
	}
	hasher := opts.hasher
	if hasher == nil {
		hasher = auth.NewHasher(authtest.Params(), 0)
	}
	d, err := datadir.Open(context.Background(), dir, datadir.Options{
		Migrations: ms, Create: true, Logger: log, Pool: pc, Hasher: hasher, Throttle: opts.throttle,
		Sessions:     auth.SessionStoreConfig{CleanupInterval: -1, Now: opts.sessionNow},
		SignupClosed: opts.signupClosed, SignupLimit: opts.signupLimit, DeleteWait: opts.deleteWait,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close data directory: %v", err)
		}
	})
	return d
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// client is one browser or API client: it keeps the session cookie and the
// device cookies the server sets, as a browser would.
type client struct {
	r       *rig
	cookie  *http.Cookie
	devices map[string]*http.Cookie // device cookies by name
	header  http.Header             // sent with every request
	addr    string                  // RemoteAddr; httptest's 192.0.2.1:1234 if ""
}

func (r *rig) client() *client {
	return &client{r: r, header: http.Header{}, devices: map[string]*http.Cookie{}}
}

// clientFrom is a client whose requests come from addr (host:port).
func (r *rig) clientFrom(addr string) *client {
	c := r.client()
	c.addr = addr
	return c
}

// do sends a request with body (a string, or nil) and returns the response.
func (c *client) do(method, path string, body any, headers ...string) *httptest.ResponseRecorder {
	c.r.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.r.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if c.addr != "" {
		req.RemoteAddr = c.addr
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	for _, ck := range c.devices {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	c.r.handler.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if strings.HasPrefix(ck.Name, auth.DeviceCookiePrefix) {
			c.devices[ck.Name] = ck
		}
		if ck.Name != auth.SessionCookie {
			continue
		}
		if ck.MaxAge < 0 || ck.Value == "" {
			c.cookie = nil
		} else {
			c.cookie = ck
		}
	}
	return rec
}

// form posts url-encoded fields, as an HTML form does.
func (c *client) form(path string, kv ...string) *httptest.ResponseRecorder {
	c.r.t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return c.do("POST", path, v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
}

// signup signs a new user up through the API and keeps the session.
func (c *client) signup(name, password string) {
	c.r.t.Helper()
	rec := c.do("POST", "/api/v1/signup", map[string]string{"username": name, "password": password})
	if rec.Code != http.StatusCreated {
		c.r.t.Fatalf("signup %s: %d %s", name, rec.Code, rec.Body)
	}
}

// createNote creates a note through the API and returns it.
func (c *client) createNote(title, body string) noteJSON {
	c.r.t.Helper()
	rec := c.do("POST", "/api/v1/notes", map[string]string{"title": title, "body": body})
	if rec.Code != http.StatusCreated {
		c.r.t.Fatalf("create note: %d %s", rec.Code, rec.Body)
	}
	return decode[noteJSON](c.r.t, rec)
}

type noteJSON struct {
	ID        int64  `json:"id"`
	Title     string `json:"title"`
	Body      string `json:"body"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// decode reads a JSON response body, refusing unknown fields.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, rec.Body, err)
	}
	return v
}

// wantError checks that rec is a JSON error with status and code.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d; want %d (body %s)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q; want application/json", ct)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		t.Fatalf("error %+v; want code %s with a message", body.Error, code)
	}
}

// wantRedirect checks for a 303 to location.
func wantRedirect(t *testing.T, rec *httptest.ResponseRecorder, location string) {
	t.Helper()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != location {
		t.Fatalf("got %d to %q; want 303 to %s (body %s)", rec.Code, rec.Header().Get("Location"), location, rec.Body)
	}
}
