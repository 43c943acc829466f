package router

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/auth/authtest"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// families is one parsed scrape of /metrics.
type families map[string]*dto.MetricFamily

// scrape GETs /metrics from h and parses the text format.
func scrape(t *testing.T, h http.Handler) families {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, rec.Body)
	}
	return mfs
}

// series returns every series of the metric name, keyed by its label values
// in label-name order joined by spaces: a counter's or gauge's value, or a
// histogram's sample count.
func (f families) series(t *testing.T, name string) map[string]float64 {
	t.Helper()
	mf, ok := f[name]
	if !ok {
		t.Fatalf("no metric %s in the scrape", name)
	}
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		var vals []string
		for _, lp := range m.GetLabel() {
			vals = append(vals, lp.GetValue())
		}
		var v float64
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			v = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			v = m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			v = float64(m.GetHistogram().GetSampleCount())
		default:
			t.Fatalf("%s has type %v", name, mf.GetType())
		}
		out[strings.Join(vals, " ")] = v
	}
	return out
}

// value returns the one series of name whose label values are labels.
func (f families) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	s := f.series(t, name)
	v, ok := s[strings.Join(labels, " ")]
	if !ok {
		t.Fatalf("%s has no series %q; it has %v", name, labels, s)
	}
	return v
}

// wantSeries checks that name has exactly the series in want.
func (f families) wantSeries(t *testing.T, name string, want map[string]float64) {
	t.Helper()
	got := f.series(t, name)
	if !maps.Equal(got, want) {
		keys := slices.Sorted(maps.Keys(got))
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\n  %q: %v (want %v)", k, got[k], want[k])
		}
		t.Errorf("%s:%s\nwant %v", name, b.String(), want)
	}
}

// metricsRig is a rig with metrics on, a pool of one handle (so that
// switching users evicts) and a throttle that blocks a name from one
// address after two failures.
func metricsRig(t *testing.T) *rig {
	t.Helper()
	m := NewMetrics(nil)
	return newRig(t, rigOptions{
		pool:     tenant.Config{MaxOpen: 1, OnOpen: m.ObserveOpen},
		throttle: auth.ThrottleConfig{PairLimit: 2},
		metrics:  m,
	})
}

func TestMetricsCountAScriptedWorkloadExactly(t *testing.T) {
	r := metricsRig(t)
	before := scrape(t, r.cfg.Metrics.Handler())
	for _, name := range []string{"cubby_pool_hits_total", "cubby_pool_misses_total", "cubby_pool_evictions_total"} {
		if v := before.value(t, name); v != 0 {
			t.Fatalf("%s starts at %v", name, v)
		}
	}
	before.wantSeries(t, "cubby_logins_total", map[string]float64{"ok": 0, "bad_credentials": 0, "throttled": 0})
	runWorkload(t, r)
	after := scrape(t, r.cfg.Metrics.Handler())
	pool := map[string]float64{
		"cubby_pool_open_handles": 0, "cubby_pool_capacity": 1,
		"cubby_pool_hits_total": 5, "cubby_pool_misses_total": 7, "cubby_pool_evictions_total": 6,
		"cubby_pool_open_seconds":    7, // one observation per open, and only misses open
		"cubby_pool_kept_hits_total": 1, "cubby_pool_kept_memos": 0,
		"cubby_tenants": 1,
		// The workload sends one request at a time: no handle is ever busy.
		"cubby_pool_read_connections": 0, "cubby_pool_read_connections_opened_total": 0,
		"cubby_pool_memo_bytes": 0,
	}
	for name, want := range pool {
		if got := after.value(t, name); got != want {
			t.Errorf("%s = %v; want %v", name, got, want)
		}
	}
	after.wantSeries(t, "cubby_tenant_provisions_total", map[string]float64{"ok": 2, "failed": 0})
	after.wantSeries(t, "cubby_tenant_deletions_total", map[string]float64{"ok": 1, "failed": 0})
	after.wantSeries(t, "cubby_tenant_migrations_total", map[string]float64{"ok": 0, "failed": 0})
	after.wantSeries(t, "cubby_logins_total", map[string]float64{"ok": 3, "bad_credentials": 2, "throttled": 1})
	requests := map[string]float64{
		"POST /api/v1/signup 201":      2,
		"POST /api/v1/signup 409":      1,
		"POST /api/v1/login 200":       2,
		"POST /login 303":              1,
		"POST /api/v1/login 401":       1,
		"POST /login 401":              1,
		"POST /api/v1/login 429":       1,
		"POST /api/v1/notes 201":       2,
		"GET /api/v1/notes/:id 200":    2,
		"GET /api/v1/notes 200":        1,
		"DELETE /api/v1/notes/:id 204": 1,
		"GET /api/v1/notes/:id 404":    1,
		"GET unmatched 404":            1,
		"other unmatched 405":          1,
		"DELETE /api/v1/account 204":   1,
	}
	after.wantSeries(t, "cubby_http_requests_total", requests)
	after.wantSeries(t, "cubby_http_request_duration_seconds", requests)
	if _, ok := after["go_goroutines"]; !ok {
		t.Error("no Go collector")
	}
	if _, ok := after["process_cpu_seconds_total"]; !ok {
		t.Error("no process collector")
	}
}

// runWorkload is the script whose effect on every counter
// TestMetricsCountAScriptedWorkloadExactly knows. With one handle to go
// round, every switch between alice and bob is a miss that evicts the
// other; the note beside each step says what it moves in the pool.
func runWorkload(t *testing.T, r *rig) {
	t.Helper()
	const pw = "correct horse"
	alice, bob, anon, browser, attacker := r.client(), r.client(), r.client(), r.client(), r.client()
	alice.signup("alice", pw) // provisioned; no acquire
	bob.signup("bob", pw)     // provisioned
	wantError(t, anon.do("POST", "/api/v1/signup", map[string]string{"username": "alice", "password": pw}),
		409, "username_taken") // neither provisioned nor failed
	login := func(c *client, name, password string) *httptest.ResponseRecorder {
		return c.do("POST", "/api/v1/login", map[string]string{"username": name, "password": password})
	}
	mustStatus(t, login(alice, "alice", pw), 200)                                             // miss 1
	mustStatus(t, login(bob, "bob", pw), 200)                                                 // miss 2, evicts alice
	mustStatus(t, browser.form("/login", "username", "alice", "password", pw), 303)           // miss 3, evicts bob
	wantError(t, login(attacker, "bob", "wrong password"), 401, "invalid_credentials")        // miss 4, evicts alice
	mustStatus(t, attacker.form("/login", "username", "bob", "password", "wrong again"), 401) // hit 1
	wantError(t, login(attacker, "bob", pw), 429, "too_many_attempts")                        // no acquire

	keep := alice.createNote("keep", "")                                               // miss 5, evicts bob
	drop := alice.createNote("drop", "")                                               // hit 2
	mustStatus(t, alice.do("GET", fmt.Sprintf("/api/v1/notes/%d", keep.ID), nil), 200) // hit 3, kept in alice's memo
	mustStatus(t, bob.do("GET", "/api/v1/notes", nil), 200)                            // miss 6, evicts alice: her memo is kept
	waitFor(t, "alice's memo kept", func() bool { return r.pool.Stats().KeptMemos == 1 })
	mustStatus(t, alice.do("GET", fmt.Sprintf("/api/v1/notes/%d", keep.ID), nil), 200)             // kept hit 1: no file opened
	mustStatus(t, alice.do("DELETE", fmt.Sprintf("/api/v1/notes/%d", drop.ID), nil), 204)          // miss 7, evicts bob
	wantError(t, alice.do("GET", fmt.Sprintf("/api/v1/notes/%d", drop.ID), nil), 404, "not_found") // hit 4
	wantError(t, anon.do("GET", "/api/v1/nope?user=alice", nil), 404, "not_found")
	wantError(t, anon.do("BREW", "/api/v1/notes", nil), 405, "method_not_allowed")
	mustStatus(t, alice.do("DELETE", "/api/v1/account", map[string]string{"password": pw}), 204) // hit 5, deleted
}

// mustStatus checks a response's status.
func mustStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d; want %d (body %.200s)", rec.Code, status, rec.Body)
	}
}

func TestMetricsCarryNoUserOrPath(t *testing.T) {
	r := metricsRig(t)
	c := r.client()
	c.signup("zanzibar", "correct horse")
	n := c.createNote("t", "")
	c.do("GET", fmt.Sprintf("/api/v1/notes/%d?q=secret-words", n.ID), nil)
	c.do("GET", "/no/such/path-zzq", nil)
	tn, err := r.pool.Directory().Lookup(t.Context(), "zanzibar")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	r.cfg.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, s := range []string{"zanzibar", tn.ID, "secret-words", "path-zzq", fmt.Sprintf("/api/v1/notes/%d", n.ID)} {
		if strings.Contains(rec.Body.String(), s) {
			t.Errorf("/metrics holds %q", s)
		}
	}
}

// /metrics tells anyone who asks how many users there are and how they
// use the server, so the App never serves it, metrics on or not: it belongs
// on the --metrics-addr listener alone.
func TestMetricsAreNeverServedByTheApp(t *testing.T) {
	r := metricsRig(t)
	wantError(t, r.client().do("GET", "/api/v1/metrics", nil), 404, "not_found")
	if rec := r.client().do("GET", "/metrics", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("/metrics on the app: %d", rec.Code)
	}
	r.client().signup("alice", "correct horse")
	got := scrape(t, r.cfg.Metrics.Handler())
	if v := got.value(t, "cubby_http_requests_total", "POST", "/api/v1/signup", "201"); v != 1 {
		t.Fatalf("signups counted on the separate handler: %v", v)
	}
	if v := got.value(t, "cubby_http_requests_total", "GET", unmatchedRoute, "404"); v != 2 {
		t.Fatalf("the refused /metrics requests: %v", v)
	}
}

// openPool opens the data directory dir with cfg's pool, closed when the
// test ends (or when the test closes the pool's data directory itself).
func openPool(t *testing.T, dir string, cfg tenant.Config) (*tenant.Pool, *datadir.DataDir) {
	t.Helper()
	ms := cfg.Migrations
	cfg.Migrations = nil
	d, err := datadir.Open(t.Context(), dir, datadir.Options{
		Migrations: ms, Create: true, Pool: cfg, Hasher: auth.NewHasher(authtest.Params(), 0),
		Sessions: auth.SessionStoreConfig{CleanupInterval: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d.Pool(), d
}

// oldTenants provisions ann and ben on dir with migrations ms and returns
// them, closed. ben's file already has the table that the next migration
// makes, so that migration fails for ben and succeeds for ann.
func oldTenants(t *testing.T, dir string, ms []tenant.Migration) (ann, ben tenant.Tenant) {
	t.Helper()
	ctx := context.Background()
	old, data := openPool(t, dir, tenant.Config{Migrations: ms})
	ann, err := old.Provision(ctx, "ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	ben, err = old.Provision(ctx, "ben", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, release, err := old.Acquire(ctx, ben.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ExecContext(ctx, "CREATE TABLE extra (x INTEGER)")
	release()
	if err != nil {
		t.Fatal(err)
	}
	if err := data.Close(); err != nil {
		t.Fatal(err)
	}
	return ann, ben
}

func TestPoolCollectorCountsMigrationsAndFailures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ms := tenanttest.Migrations(t, "../schema.sql")
	ann, ben := oldTenants(t, dir, ms)
	logs := &lockedBuffer{}
	m := NewMetrics(slog.New(slog.NewTextHandler(logs, nil)))
	next := append(slices.Clone(ms), tenant.Migration{Version: len(ms) + 1, SQL: "CREATE TABLE extra (x INTEGER);"})
	pool, _ := openPool(t, dir, tenant.Config{Migrations: next, OnOpen: m.ObserveOpen})
	if err := m.watchPool(pool); err != nil {
		t.Fatal(err)
	}
	if _, release, err := pool.Acquire(ctx, ann.ID); err != nil {
		t.Fatalf("migrate ann: %v", err)
	} else {
		release()
	}
	if _, _, err := pool.Acquire(ctx, ben.ID); err == nil {
		t.Fatal("ben's migration did not fail")
	}
	cid, err := pool.Provision(ctx, "cid", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Delete(ctx, cid.ID); err != nil {
		t.Fatal(err)
	}
	got := scrape(t, m.Handler())
	got.wantSeries(t, "cubby_tenant_migrations_total", map[string]float64{"ok": 1, "failed": 1})
	got.wantSeries(t, "cubby_tenant_provisions_total", map[string]float64{"ok": 1, "failed": 0})
	got.wantSeries(t, "cubby_tenant_deletions_total", map[string]float64{"ok": 1, "failed": 0})
	if v := got.value(t, "cubby_pool_open_seconds"); v != 1 {
		t.Errorf("open latency observations: %v; want 1 (a failed open is not timed)", v)
	}
	if v := got.value(t, "cubby_tenants"); v != 2 {
		t.Errorf("tenants: %v; want 2 (ann, and ben in state failed)", v)
	}

	// With routing.db gone, provisions and deletions fail, and a scrape
	// still serves every metric but the tenant count.
	pool.Directory().Close()
	if _, err := pool.Provision(ctx, "dan", nil); err == nil {
		t.Fatal("provisioned without a routing db")
	}
	if err := pool.Delete(ctx, ann.ID); err == nil {
		t.Fatal("deleted without a routing db")
	}
	got = scrape(t, m.Handler())
	got.wantSeries(t, "cubby_tenant_provisions_total", map[string]float64{"ok": 1, "failed": 1})
	got.wantSeries(t, "cubby_tenant_deletions_total", map[string]float64{"ok": 1, "failed": 1})
	if _, ok := got["cubby_tenants"]; ok {
		t.Error("a tenant count without a routing db")
	}
	if !strings.Contains(logs.String(), "cubby_tenants") {
		t.Errorf("the failed count was not logged: %s", logs)
	}
}

func TestMetricsWatchOnePool(t *testing.T) {
	r := metricsRig(t)
	cfg := r.cfg
	if _, err := New(cfg); err == nil {
		t.Fatal("a second App registered the same Metrics twice")
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.ObserveOpen(time.Millisecond)
	m.observeRequest("GET", "/", 200, time.Millisecond)
	m.observeLogin(nil)
}

func TestMethodLabelIsBounded(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "DELETE": "DELETE", "get": "other", "BREW": "other", "": "other"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q; want %q", in, got, want)
		}
	}
}

// waitFor waits up to 10 s for cond, which background work makes true.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}
