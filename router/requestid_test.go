package router

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

var madeID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// logLine returns the one request log line that holds needle.
func logLine(t *testing.T, logs, needle string) string {
	t.Helper()
	var found []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, needle) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d log lines hold %q:\n%s", len(found), needle, logs)
	}
	return found[0]
}

func TestRequestIDIsTakenWhenSafeElseMade(t *testing.T) {
	long := strings.Repeat("a", 64)
	cases := []struct {
		sent string
		kept bool
	}{
		{"abc-123", true},
		{"trace:7f.span_2", true},
		{long, true},
		{long + "b", false},
		{"", false},
		{"a b", false},
		{"x\ny", false},
		{`"quoted"`, false},
		{"id=1 status=200", false},
		{"caf\u00e9", false},
	}
	r := newRig(t, rigOptions{})
	c := r.client()
	for _, tc := range cases {
		rec := c.do("GET", "/healthz", nil, "X-Request-Id", tc.sent)
		got := rec.Header().Get("X-Request-Id")
		switch {
		case tc.kept && got != tc.sent:
			t.Errorf("sent %q, got back %q", tc.sent, got)
		case !tc.kept && !madeID.MatchString(got):
			t.Errorf("sent %q, got back %q; want a made id", tc.sent, got)
		}
		logLine(t, r.logs.String(), "request_id="+got)
	}
	a := c.do("GET", "/healthz", nil).Header().Get("X-Request-Id")
	b := c.do("GET", "/healthz", nil).Header().Get("X-Request-Id")
	if a == b || !madeID.MatchString(a) || !madeID.MatchString(b) {
		t.Fatalf("made ids %q and %q", a, b)
	}
}

func TestRequestLogLineHasIDRouteStatusDurationTenant(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	c.do("GET", "/api/v1/me", nil, "X-Request-Id", "me-1")
	c.do("GET", "/nowhere", nil, "X-Request-Id", "lost-1")
	tn, err := r.pool.Directory().Lookup(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	line := logLine(t, r.logs.String(), "request_id=me-1")
	for _, want := range []string{"msg=request", "method=GET", "route=/api/v1/me", "status=200", "duration=",
		"tenant=" + tn.ID} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
	line = logLine(t, r.logs.String(), "request_id=lost-1")
	if !strings.Contains(line, "route="+unmatchedRoute) || !strings.Contains(line, "status=404") {
		t.Errorf("unmatched request: %s", line)
	}
}

func TestErrorLogCarriesRequestID(t *testing.T) {
	r := newRig(t, rigOptions{})
	h := r.app.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	req := httptest.NewRequest("GET", "/api/v1/notes", nil)
	req.Header.Set("X-Request-Id", "err-42")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantError(t, rec, 500, "internal")
	if got := rec.Header().Get("X-Request-Id"); got != "err-42" {
		t.Fatalf("a 500 answered with request id %q", got)
	}
	line := logLine(t, r.logs.String(), "request failed")
	if !strings.Contains(line, "request_id=err-42") {
		t.Fatalf("error log without the request id: %s", line)
	}
}

func TestLogOfSignupAndLoginHoldsNoUsernameOrPassword(t *testing.T) {
	r := newRig(t, rigOptions{})
	const (
		apiUser, apiPass   = "QuixoticWalrus7", "unlikely-api-phrase"
		formUser, formPass = "velvetotter9", "unlikely-form-phrase"
		wrongPass          = "unlikely-wrong-phrase"
	)
	api := r.client()
	cred := func(u, p string) map[string]string { return map[string]string{"username": u, "password": p} }
	mustStatus(t, api.do("POST", "/api/v1/signup", cred(apiUser, apiPass)), 201)
	mustStatus(t, api.do("POST", "/api/v1/signup", cred(apiUser, apiPass)), 409)
	mustStatus(t, api.do("POST", "/api/v1/login", cred(apiUser, apiPass)), 200)
	mustStatus(t, api.do("POST", "/api/v1/login", cred(apiUser, wrongPass)), 401)
	mustStatus(t, api.do("POST", "/api/v1/login", cred("no-"+apiUser, wrongPass)), 401)
	mustStatus(t, api.do("DELETE", "/api/v1/account", map[string]string{"password": wrongPass}), 401)
	form := r.client()
	mustStatus(t, form.form("/signup", "username", formUser, "password", formPass), 303)
	mustStatus(t, form.form("/signup", "username", formUser, "password", formPass), 409)
	mustStatus(t, form.form("/login", "username", formUser, "password", formPass), 303)
	mustStatus(t, form.form("/login", "username", formUser, "password", wrongPass), 401)
	mustStatus(t, form.do("GET", "/notes", nil), 200) // shows the username
	mustStatus(t, form.form("/account/delete", "password", formPass), 303)

	logs := strings.ToLower(r.logs.String())
	for _, secret := range []string{apiUser, apiPass, formUser, formPass, wrongPass} {
		if strings.Contains(logs, strings.ToLower(secret)) {
			t.Errorf("the log holds %q:\n%s", secret, r.logs)
		}
	}
	if n := strings.Count(logs, "msg=request "); n != 12 {
		t.Errorf("%d request lines for 12 requests:\n%s", n, r.logs)
	}
}
