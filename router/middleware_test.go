package router

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

func TestCrossOriginPostIsRefusedAndChangesNothing(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	n := c.createNote("keep", "")
	evil := [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "https://evil.example"},
	}
	for _, h := range evil {
		wantError(t, c.do("POST", "/api/v1/notes", `{"title":"forged"}`, h...), 403, "forbidden")
		wantError(t, c.do("DELETE", "/api/v1/notes/1", nil, h...), 403, "forbidden")
		wantError(t, c.do("DELETE", "/api/v1/account", `{"password":"correct horse"}`, h...), 403, "forbidden")
		wantError(t, r.client().do("POST", "/api/v1/signup", `{"username":"mallory","password":"correct horse"}`, h...),
			403, "forbidden")
		rec := c.do("POST", "/notes", "title=forged", append(h, "Content-Type", "application/x-www-form-urlencoded")...)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("HTML form from %v: %d", h, rec.Code)
		}
		if rec := c.do("POST", "/logout", nil, h...); rec.Code != http.StatusForbidden {
			t.Fatalf("logout from %v: %d", h, rec.Code)
		}
	}
	got := decode[notesJSON](t, c.do("GET", "/api/v1/notes", nil))
	if len(got.Notes) != 1 || got.Notes[0] != n {
		t.Fatalf("cross-origin requests changed the notes: %+v", got.Notes)
	}
	if _, err := r.pool.Directory().Lookup(t.Context(), "mallory"); err == nil {
		t.Fatal("a cross-origin signup created an account")
	}
	// Same-origin browsers and header-less clients pass; so do reads.
	for _, h := range [][]string{{"Sec-Fetch-Site", "same-origin"}, {"Origin", "http://example.com"}, nil} {
		if rec := c.do("POST", "/api/v1/notes", `{"title":"ok"}`, h...); rec.Code != http.StatusCreated {
			t.Fatalf("same-origin %v: %d", h, rec.Code)
		}
	}
	if rec := c.do("GET", "/api/v1/notes", nil, "Sec-Fetch-Site", "cross-site"); rec.Code != http.StatusOK {
		t.Fatalf("cross-site GET: %d", rec.Code)
	}
}

func TestBodyOver2MiBIs413(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	big := `{"title":"t","body":"` + strings.Repeat("x", 2<<20) + `"}`
	wantError(t, c.do("POST", "/api/v1/notes", big), 413, "too_large")
	// Without a Content-Length the limit hits while reading.
	wantError(t, c.do("POST", "/api/v1/notes", io.MultiReader(strings.NewReader(big))), 413, "too_large")
	wantError(t, c.do("POST", "/api/v1/signup", io.MultiReader(strings.NewReader(big))), 413, "too_large")
	rec := c.do("POST", "/notes", io.MultiReader(strings.NewReader("title=t&body="+strings.Repeat("x", 2<<20))),
		"Content-Type", "application/x-www-form-urlencoded")
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("big form: %d", rec.Code)
	}
	if got := decode[notesJSON](t, c.do("GET", "/api/v1/notes", nil)); len(got.Notes) != 0 {
		t.Fatalf("a refused body stored %d notes", len(got.Notes))
	}
}

func TestBadJSONIs400(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	n := c.createNote("keep", "")
	bodies := []string{
		``, ` `, `{`, `{"title":}`, `nonsense`, `[]`, `"title"`, `42`, `null`, `true`,
		`{"title":"a","extra":1}`, `{"TITLE":"a"}`, `{"Title":"a"}`, `{"title":"a","Body":"b"}`,
		`{"title":"a","title ":"b"}`, `{"ti\u0074le":"a", "tİtle":"x"}`,
		`{"title":1}`, `{"title":["a"]}`, `{"title":{"a":1}}`, `{"title":true}`, `{"title":"a","body":2}`,
		`{"title":null}`, `{"title":"a","body":null}`,
		`{"title":"a"}{"title":"b"}`, `{"title":"a"} x`, `{"title":"a"}]`, `{"title":"a"}null`,
		"\xff\xfe{}",
	}
	for _, b := range bodies {
		wantError(t, c.do("POST", "/api/v1/notes", b), 400, "bad_request")
		wantError(t, c.do("PUT", "/api/v1/notes/1", b), 400, "bad_request")
	}
	for _, b := range []string{`{"username":"x","password":"y","USERNAME":"z"}`, `{"username":null}`, `{"password":8}`} {
		wantError(t, r.client().do("POST", "/api/v1/signup", b), 400, "bad_request")
		wantError(t, r.client().do("POST", "/api/v1/login", b), 400, "bad_request")
	}
	got := decode[notesJSON](t, c.do("GET", "/api/v1/notes", nil))
	if len(got.Notes) != 1 || got.Notes[0] != n {
		t.Fatalf("bad requests changed the notes: %+v", got.Notes)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	for _, p := range []string{"/api/v1/nope", "/api/v1/notes/1/x", "/api/v1/notes/", "/api"} {
		wantError(t, c.do("GET", p, nil), 404, "not_found")
	}
	rec := c.do("PATCH", "/api/v1/notes", nil)
	wantError(t, rec, 405, "method_not_allowed")
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Fatalf("Allow %q", allow)
	}
	wantError(t, c.do("GET", "/api/v1/signup", nil), 405, "method_not_allowed")
	wantError(t, c.do("OPTIONS", "/api/v1/notes", nil), 405, "method_not_allowed")
	if rec := c.do("GET", "/API/V1/NOTES", nil); rec.Code != 404 {
		t.Fatalf("paths are case-sensitive: %d", rec.Code)
	}
	rec = c.do("GET", "/no/such/page", nil)
	if rec.Code != 404 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("HTML 404: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, p := range []string{"/static/", "/static/nope.css", "/static/../web.go"} {
		if rec := c.do("GET", p, nil); rec.Code != 404 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	reqs := [][3]string{
		{"GET", "/", ""}, {"GET", "/healthz", ""}, {"GET", "/static/style.css", ""}, {"GET", "/api/v1/me", ""},
		{"GET", "/nope", ""}, {"POST", "/api/v1/signup", "{"}, {"PATCH", "/api/v1/notes", ""},
		{"POST", "/api/v1/notes", `{"title":"x"}`},
	}
	for _, q := range reqs {
		rec := c.do(q[0], q[1], q[2])
		h := rec.Header()
		if h.Get("Content-Security-Policy") != "default-src 'self'; frame-ancestors 'none'" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s %s (%d): headers %v", q[0], q[1], rec.Code, h)
		}
	}
	for _, method := range []string{"GET", "HEAD"} {
		rec := c.do(method, "/static/style.css", nil)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
			t.Fatalf("%s stylesheet: %d %q", method, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	if rec := c.do("GET", "/healthz", nil); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "ok" {
		t.Fatalf("healthz: %d %q", rec.Code, rec.Body)
	}
	if rec := c.do("GET", "/readyz", nil); rec.Code != 200 {
		t.Fatalf("readyz: %d", rec.Code)
	}
	r.app.Drain()
	if rec := c.do("GET", "/readyz", nil); rec.Code != 503 {
		t.Fatalf("readyz while draining: %d", rec.Code)
	}
	if rec := c.do("GET", "/healthz", nil); rec.Code != 200 {
		t.Fatalf("healthz while draining: %d", rec.Code)
	}
	if rec := c.do("GET", "/metrics", nil); rec.Code != 404 {
		t.Fatalf("metrics without a handler: %d", rec.Code)
	}
}

func TestReadinessFailsWhenRoutingDBIsGone(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.pool.Directory().Close()
	if rec := r.client().do("GET", "/readyz", nil); rec.Code != 503 {
		t.Fatalf("readyz with routing.db closed: %d", rec.Code)
	}
}

// The data directory removed under a running server, as a careless
// operator might, answers 503 where it needs routing.db (a signup, the
// readiness check), never 500, and makes no new routing.db.
func TestARemovedDataDirectoryIs503NotA500(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	if err := os.RemoveAll(r.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(r.dir, 0o700); err != nil { // and an empty one put back
		t.Fatal(err)
	}
	rec := r.client().do("POST", "/api/v1/signup", map[string]string{"username": "bob", "password": "correct horse"})
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"tenant_unavailable"`) {
		t.Errorf("signup: %d %s; want 503 tenant_unavailable", rec.Code, rec.Body)
	}
	if rec := r.client().do("GET", "/readyz", nil); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz: %d; want 503", rec.Code)
	}
	if _, err := os.Stat(filepath.Join(r.dir, tenant.RoutingFile)); !os.IsNotExist(err) {
		t.Errorf("a routing.db was made in the emptied directory: %v", err)
	}
}

func TestPanicIs500InClientFormat(t *testing.T) {
	r := newRig(t, rigOptions{})
	h := r.app.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/notes", nil))
	wantError(t, rec, 500, "internal")
	if strings.Contains(rec.Body.String(), "boom") {
		t.Fatal("the panic value reached the client")
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/notes", nil))
	if rec.Code != 500 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("HTML panic: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("a panic lost the security headers")
	}
	if logs := r.logs.String(); !strings.Contains(logs, "boom") || !strings.Contains(logs, "status=500") {
		t.Fatalf("panic not logged: %s", logs)
	}
}

func TestRequestLogHasRouteStatusTenantAndNoSecrets(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "hunter2-secret")
	c.do("POST", "/api/v1/login", `{"username":"alice","password":"wrong-secret"}`)
	c.do("GET", "/api/v1/notes/42", nil)
	c.do("GET", "/api/v1/notes?q=private-words", nil)
	tn, _ := r.pool.Directory().Lookup(t.Context(), "alice")
	logs := r.logs.String()
	for _, want := range []string{
		"method=POST route=/api/v1/signup status=201", "route=/api/v1/notes/:id status=404",
		"route=/api/v1/login status=401", "tenant=" + tn.ID, "duration=",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{"hunter2-secret", "wrong-secret", "private-words", c.cookie.Value} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %q", secret)
		}
	}
}

// The context logRequests gives a request carries its requestInfo and
// keeps everything of the one the server gave: values, and an end that
// contexts made from it follow.
func TestRequestContextKeepsTheServersContext(t *testing.T) {
	type key struct{}
	var info *requestInfo
	var inner context.Context
	var innerCancel context.CancelFunc = func() {}
	defer func() { innerCancel() }()
	h := (&App{log: slog.New(LogHandler(slog.NewTextHandler(io.Discard, nil)))}).logRequests(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info = infoOf(r)
			inner, innerCancel = context.WithCancel(r.Context())
			if r.Context().Value(key{}) != "server's" {
				t.Error("the server's context value is lost")
			}
			if RequestID(r.Context()) != "req-1" {
				t.Errorf("request id %q", RequestID(r.Context()))
			}
		}))
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "server's"))
	req := httptest.NewRequestWithContext(parent, "GET", "/", nil)
	req.Header.Set(RequestIDHeader, "req-1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if info == nil || info.id != "req-1" {
		t.Fatalf("requestInfo %+v", info)
	}
	cancel()
	select {
	case <-inner.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a context made from the request's did not end with the server's")
	}
}
