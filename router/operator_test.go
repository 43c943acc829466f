package router

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// operatorRig is an operator page over a rig's pool.
type operatorRig struct {
	*rig
	op *Operator
}

func newOperatorRig(t *testing.T, cfg OperatorConfig) *operatorRig {
	t.Helper()
	r := newRig(t, rigOptions{})
	cfg.Pool = r.pool
	op, err := NewOperator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &operatorRig{rig: r, op: op}
}

// get requests path of the operator listener.
func (o *operatorRig) get(path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	o.op.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

// page gets an operator page and fails the test unless it is a 200 page.
func (o *operatorRig) page(path string) string {
	o.t.Helper()
	rec := o.get(path)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		o.t.Fatalf("GET %s: %d %s\n%s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		o.t.Errorf("GET %s: cache control %q", path, cc)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		o.t.Errorf("GET %s: CSP %q", path, csp)
	}
	return rec.Body.String()
}

// addRow puts a tenant row straight into routing.db, without a file (as a
// restore in progress or a lost file leaves one).
func (o *operatorRig) addRow(i int, username, state, errMsg string, version int) {
	o.t.Helper()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err := o.pool.Directory().DB().Exec(
		"INSERT INTO tenants (id, username, state, schema_version, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		fmt.Sprintf("%032x", i+1), username, state, version, errMsg, now, now)
	if err != nil {
		o.t.Fatal(err)
	}
}

var (
	rowName  = regexp.MustCompile(`<th scope="row">([^<]*)</th>`)
	nextLink = regexp.MustCompile(`<a rel="next" href="([^"]*)">`)
)

// tenantRows are the names of the tenant list of a page, as shown, and
// the URL of its next page ("" on the last).
func tenantRows(t *testing.T, body string) ([]string, string) {
	t.Helper()
	_, list, ok := strings.Cut(body, `id="tenants"`)
	if !ok {
		t.Fatalf("no tenant list in\n%s", body)
	}
	var names []string
	for _, m := range rowName.FindAllStringSubmatch(list, -1) {
		names = append(names, html.UnescapeString(m[1]))
	}
	next := ""
	if m := nextLink.FindStringSubmatch(list); m != nil {
		next = html.UnescapeString(m[1])
	}
	return names, next
}

// Following the next links walks every tenant once, in name order, a page
// at a time, however many there are.
func TestOperatorPagesThroughEveryTenantOnce(t *testing.T) {
	o := newOperatorRig(t, OperatorConfig{PageSize: 100})
	const n = 1234
	for i := range n {
		o.addRow(i, fmt.Sprintf("user%05d", i), "active", "", 1)
	}
	var seen []string
	pages := 0
	for path := "/"; path != ""; pages++ {
		body := o.page(path)
		names, next := tenantRows(t, body)
		if len(names) > 100 {
			t.Fatalf("%s lists %d tenants; want at most 100", path, len(names))
		}
		if pages > 0 && !strings.Contains(body, `<a href="/">First page</a>`) {
			t.Errorf("%s has no link to the first page", path)
		}
		seen = append(seen, names...)
		path = next
	}
	if pages != 13 || len(seen) != n {
		t.Fatalf("%d pages, %d tenants; want 13 pages of %d", pages, len(seen), n)
	}
	for i, name := range seen {
		if want := fmt.Sprintf("user%05d", i); name != want {
			t.Fatalf("tenant %d is %s; want %s", i, name, want)
		}
	}
	if body := o.page("/"); !strings.Contains(body, "<dt>Tenants</dt><dd>1234</dd>") || !strings.Contains(body, "no file") {
		t.Errorf("the overview lacks the tenant count or the missing files:\n%s", body)
	}
}

// Failed tenants come first, with their errors, above the overview and the
// list; tenants below the schema version count as pending.
func TestOperatorShowsFailedTenantsFirstWithTheirErrors(t *testing.T) {
	o := newOperatorRig(t, OperatorConfig{})
	c := o.client()
	c.signup("alice", "correct horse")
	o.addRow(1, "bob", "failed", "migration 1: no such table: items", 0)
	o.addRow(2, "carol", "active", "", 0)
	o.addRow(3, "dave", "provisioning", "", 0)
	body := o.page("/")
	failedAt := strings.Index(body, `id="failed"`)
	if failedAt < 0 || failedAt > strings.Index(body, `id="overview"`) || failedAt > strings.Index(body, `id="tenants"`) {
		t.Fatalf("the failed tenants are not first:\n%s", body)
	}
	failed, _, _ := strings.Cut(body[failedAt:], "</section>")
	for _, want := range []string{"Failed tenants (1)", `<th scope="row">bob</th>`, "migration 1: no such table: items"} {
		if !strings.Contains(failed, want) {
			t.Errorf("failed section lacks %q:\n%s", want, failed)
		}
	}
	if strings.Contains(failed, "alice") || strings.Contains(failed, "carol") {
		t.Errorf("failed section lists a healthy tenant:\n%s", failed)
	}
	// bob (failed at 0) and carol (0) are behind the schema's version 1;
	// dave is still being made.
	if !strings.Contains(body, "<dt>Migrations pending</dt><dd>2 ") {
		t.Errorf("pending migrations not 2:\n%s", body)
	}
	names, next := tenantRows(t, body)
	if strings.Join(names, ",") != "alice,bob,carol,dave" || next != "" {
		t.Errorf("tenant list %v, next %q", names, next)
	}
}

// Names and errors are data, never markup, in the page and in its links.
func TestOperatorEscapesHostileNamesAndErrors(t *testing.T) {
	o := newOperatorRig(t, OperatorConfig{PageSize: 1})
	hostile := []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(2)>`, `a&b?after=z#x`}
	for i, name := range hostile {
		o.addRow(i, name, "failed", `<b onmouseover="alert(3)">boom</b>`, 0)
	}
	var seen []string
	for path := "/"; path != ""; {
		body := o.page(path)
		for _, bad := range []string{"<script>alert", "<img src=x", "<b onmouseover"} {
			if strings.Contains(body, bad) {
				t.Fatalf("%s carries %q unescaped:\n%s", path, bad, body)
			}
		}
		names, next := tenantRows(t, body)
		seen = append(seen, names...)
		path = next
	}
	if len(seen) != 3 || seen[0] != hostile[1] || seen[1] != hostile[0] || seen[2] != hostile[2] {
		t.Errorf("walked %q; want every hostile name once, in order", seen)
	}
	if body := o.page("/"); !strings.Contains(body, "&lt;b onmouseover=&#34;alert(3)&#34;&gt;boom&lt;/b&gt;") {
		t.Errorf("the error is not shown escaped:\n%s", body)
	}
}

// The page shows the pool's counters and, per tenant, whether it is open
// and when the pool last opened it.
func TestOperatorShowsThePoolAndLastOpened(t *testing.T) {
	o := newOperatorRig(t, OperatorConfig{})
	c := o.client()
	c.signup("alice", "correct horse")
	c.createNote("hello", "")
	c.do("GET", "/api/v1/me", nil)
	o.addRow(1, "bob", "active", "", 1)
	body := o.page("/")
	s := o.pool.Stats()
	for _, want := range []string{
		fmt.Sprintf("<dd>%d of %d</dd>", s.Open, s.Capacity),
		fmt.Sprintf("(%d hits, %d misses)", s.Hits, s.Misses),
		fmt.Sprintf("%d closed tenants' kept, %d reads answered from them", s.KeptMemos, s.KeptHits),
		"<dt>Replication</dt><dd>off</dd>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if s.Hits == 0 || !strings.Contains(body, "%") {
		t.Errorf("no hit rate (hits %d):\n%s", s.Hits, body)
	}
	_, list, _ := strings.Cut(body, `id="tenants"`)
	alice, _, _ := strings.Cut(list[strings.Index(list, ">alice<"):], "</tr>")
	bob, _, _ := strings.Cut(list[strings.Index(list, ">bob<"):], "</tr>")
	if !strings.Contains(alice, "open now") {
		t.Errorf("alice's row does not say she is open:\n%s", alice)
	}
	if !strings.Contains(bob, "not since start") || !strings.Contains(bob, "no file") {
		t.Errorf("bob's row:\n%s", bob)
	}
}

// fakeReplication reports a fixed lag for one tenant.
type fakeReplication struct{ id string }

func (f fakeReplication) Lag(_ context.Context, ids []string) (string, map[string]time.Duration, error) {
	return "to s3://bucket/prefix", map[string]time.Duration{f.id: 1500 * time.Millisecond}, nil
}

// With a replication hook, the page shows its line and each tenant's lag.
func TestOperatorShowsReplicationLagFromItsHook(t *testing.T) {
	o := newOperatorRig(t, OperatorConfig{Replication: fakeReplication{id: fmt.Sprintf("%032x", 2)}})
	o.addRow(1, "bob", "active", "", 1)
	body := o.page("/")
	if !strings.Contains(body, "<dt>Replication</dt><dd>to s3://bucket/prefix</dd>") ||
		!strings.Contains(body, "Replica lag") || !strings.Contains(body, "<td>1.5s</td>") {
		t.Errorf("no replication on the page:\n%s", body)
	}
}

// Bad cursors are 400 pages, unknown paths 404, and the stylesheet is
// there for the page.
func TestOperatorRefusesBadRequestsAndServesItsStylesheet(t *testing.T) {
	o := newOperatorRig(t, OperatorConfig{})
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/?after=a&after=b", 400},
		{"/?after=%zz", 400}, // URL.Query would drop it: page 1
		{"/?after=" + strings.Repeat("x", 300), 400},
		{"/notes", 404},
		{"/api/v1/me", 404},
		{"/static/nope.css", 404},
		{"/static/", 404},
		{"/static/style.css", 200},
	} {
		if rec := o.get(tc.path); rec.Code != tc.status {
			t.Errorf("GET %s: %d; want %d", tc.path, rec.Code, tc.status)
		}
	}
	if rec := o.get("/static/style.css"); !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet content type %q", rec.Header().Get("Content-Type"))
	}
	rec := httptest.NewRecorder()
	o.op.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d; want 405", rec.Code)
	}
}

// The App, the public listener's handler, never serves the operator page:
// its / is the landing page or the user's notes, and names no one else.
func TestOperatorPageIsNotOnThePublicApp(t *testing.T) {
	o := newOperatorRig(t, OperatorConfig{})
	o.addRow(1, "secret-bob", "failed", "migration 2: boom", 1)
	c := o.client()
	for _, signedIn := range []bool{false, true} {
		if signedIn {
			c.signup("alice", "correct horse")
		}
		for _, path := range []string{"/", "/?after=a", "/operator", "/notes"} {
			rec := c.do("GET", path, nil)
			body := rec.Body.String()
			if strings.Contains(body, "secret-bob") || strings.Contains(body, "Migrations pending") ||
				strings.Contains(body, "Failed tenants") {
				t.Errorf("signed in %v: the app's %s shows the operator page (%d)", signedIn, path, rec.Code)
			}
		}
	}
	if !strings.Contains(o.page("/"), "secret-bob") {
		t.Error("the operator page itself does not list the tenant")
	}
}
