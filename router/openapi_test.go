package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// Every route under /api/v1 in the route table is an operation of the
// document, and the document has no operation the router lacks.
func TestOpenAPIDocumentListsEveryAPIRouteAndNoOther(t *testing.T) {
	r := newRig(t, rigOptions{})
	var routes []string
	for _, rt := range r.app.routeTable() {
		if strings.HasPrefix(rt.path, "/api/") {
			routes = append(routes, rt.method+" "+openAPIPath(rt.path))
		}
	}
	var documented []string
	doc := contractOf(t).doc
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(routes)
	slices.Sort(documented)
	if !slices.Equal(routes, documented) {
		t.Errorf("routes under /api/:\n%s\ndocumented operations:\n%s",
			strings.Join(routes, "\n"), strings.Join(documented, "\n"))
	}
}

// openAPIPath spells an httprouter pattern as an OpenAPI path template
// (:id becomes {id}).
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// GET /api/v1/openapi.json serves the embedded document to anyone, as
// JSON a cache may keep, without a session cookie, and answers a
// revalidation with 304.
func TestOpenAPIDocumentIsServedPublicAndCacheable(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	rec := c.do("GET", "/api/v1/openapi.json", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	h := rec.Header()
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	if cc := h.Get("Cache-Control"); cc != "public, max-age=3600" {
		t.Errorf("cache control %q", cc)
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Errorf("cookies set: %v", rec.Result().Cookies())
	}
	if rec.Body.String() != string(openAPIDocument) {
		t.Error("the served document is not the embedded one")
	}
	var doc struct{ OpenAPI string }
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, %v", doc.OpenAPI, err)
	}
	etag := h.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if rec := c.do("GET", "/api/v1/openapi.json", nil, "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d; want 304", rec.Code)
	}
	// Signed in, it is the same public document.
	c.signup("alice", "correct horse")
	if rec := c.do("GET", "/api/v1/openapi.json", nil); rec.Body.String() != string(openAPIDocument) ||
		rec.Header().Get("Cache-Control") != "public, max-age=3600" {
		t.Errorf("signed in: %d, cache control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
}

// The contract check is not a formality: answers and requests the
// document does not allow fail it, and the right ones pass.
func TestContractCheckRefusesWhatTheDocumentDoesNotAllow(t *testing.T) {
	const note = `{"id":1,"title":"t","body":"","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`
	jsonHeader := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	errBody := func(code string) string { return `{"error":{"code":"` + code + `","message":"m"}}` }
	session := &http.Cookie{Name: "session", Value: "x"}
	for _, tc := range []struct {
		name           string
		method, path   string
		body           string
		cookie         *http.Cookie
		status         int
		header         http.Header
		answer         string
		wantViolations bool
	}{
		{"a note", "GET", "/api/v1/notes/1", "", session, 200, jsonHeader(), note, false},
		{"an undocumented status", "GET", "/api/v1/me", "", session, 418, jsonHeader(), errBody("internal"), true},
		{"a code its status never carries", "GET", "/api/v1/me", "", session, 401, jsonHeader(), errBody("invalid_credentials"), true},
		{"an unknown field in a note", "GET", "/api/v1/notes/1", "", session, 200, jsonHeader(),
			strings.Replace(note, `"id":1`, `"id":1,"owner":"bob"`, 1), true},
		{"a time that is not RFC 3339", "GET", "/api/v1/notes/1", "", session, 200, jsonHeader(),
			strings.Replace(note, `"created_at":"2026-01-02T03:04:05Z"`, `"created_at":"yesterday"`, 1), true},
		{"a created note without Location", "POST", "/api/v1/notes", `{"title":"t"}`, session, 201, jsonHeader(), note, true},
		{"a created note", "POST", "/api/v1/notes", `{"title":"t"}`, session, 201, jsonHeader("Location", "/api/v1/notes/1"), note, false},
		{"429 without Retry-After", "POST", "/api/v1/login", `{"username":"a","password":"b"}`, nil, 429, jsonHeader(), errBody("too_many_attempts"), true},
		{"a refused request that succeeded", "POST", "/api/v1/notes", `{"title":5}`, session, 201,
			jsonHeader("Location", "/api/v1/notes/1"), note, true},
		{"a refused request answered 400", "POST", "/api/v1/notes", `{"title":5}`, session, 400, jsonHeader(), errBody("bad_request"), false},
		{"no session yet an answer", "GET", "/api/v1/me", "", nil, 200, jsonHeader(),
			`{"username":"a","created_at":"2026-01-02T03:04:05Z","schema_version":1,"size_bytes":1}`, true},
		{"an unknown path answered", "GET", "/api/v1/secret", "", nil, 200, jsonHeader(), `{}`, true},
		{"an unknown path, 404", "GET", "/api/v1/secret", "", nil, 404, jsonHeader(), errBody("not_found"), false},
		{"an unknown method, 405", "PATCH", "/api/v1/notes/1", "", session, 405, jsonHeader(), errBody("method_not_allowed"), false},
		{"an unknown method, 404", "PATCH", "/api/v1/notes/1", "", session, 404, jsonHeader(), errBody("not_found"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.cookie != nil {
				req.AddCookie(tc.cookie)
			}
			err := contractOf(t).check(context.Background(), exchange{
				req: req, body: []byte(tc.body), status: tc.status, header: tc.header, answer: []byte(tc.answer),
			})
			if (err != nil) != tc.wantViolations {
				t.Errorf("check: %v; want a violation: %v", err, tc.wantViolations)
			}
		})
	}
}

// Every error code of errors.go is documented with the status httpStatus
// gives it, and the document pairs no code with any other status.
func TestOpenAPIDocumentHasEveryErrorCodeWithItsStatus(t *testing.T) {
	doc := contractOf(t).doc
	documented := map[code]map[int]bool{}
	note := func(status string, ref *openapi3.ResponseRef) {
		if ref == nil || ref.Value == nil {
			return
		}
		mt := ref.Value.Content.Get("application/json")
		if mt == nil || mt.Schema == nil || mt.Schema.Value.Properties["error"] == nil {
			return
		}
		n, err := strconv.Atoi(status)
		if err != nil {
			t.Fatalf("status %q", status)
		}
		for _, c := range mt.Schema.Value.Properties["error"].Value.Properties["code"].Value.Enum {
			if documented[code(c.(string))] == nil {
				documented[code(c.(string))] = map[int]bool{}
			}
			documented[code(c.(string))][n] = true
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for status, ref := range op.Responses.Map() {
				note(status, ref)
			}
		}
	}
	// Paths and methods the document does not list get these.
	note("404", doc.Components.Responses["NotFound"])
	note("405", doc.Components.Responses["MethodNotAllowed"])
	all := []code{
		codeBadRequest, codeUnauthenticated, codeInvalidCredentials, codeForbidden, codeSignupClosed,
		codeNotFound, codeMethodNotAllowed, codeUsernameTaken, codeTooLarge, codeInvalidUsername,
		codeWeakPassword, codeInvalidNote, codeTooManyAttempts, codeBusy, codeTenantUnavailable,
		codeStorageFull, codeUnavailable, codeInternal,
	}
	for _, c := range all {
		if !documented[c][httpStatus(c)] {
			t.Errorf("code %s is not documented with status %d", c, httpStatus(c))
		}
	}
	for c, statuses := range documented {
		if !slices.Contains(all, c) {
			t.Errorf("the document has code %s, which errors.go does not", c)
		}
		for s := range statuses {
			if s != httpStatus(c) {
				t.Errorf("the document answers code %s with %d; errors.go with %d", c, s, httpStatus(c))
			}
		}
	}
}

// A request body over the limit is 413 on every route, as DESIGN says, and
// the document says so for every operation, not only those that read a
// body: a 3 MiB body to logout or to a GET was an undocumented 413.
func TestEveryOperationDocumentsItsBodyLimit(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	n := c.createNote("hello", "")
	big := strings.Repeat("x", 3<<20)
	for _, op := range []struct{ method, path string }{
		{"GET", "/api/v1/me"}, {"GET", "/api/v1/notes"}, {"GET", fmt.Sprint("/api/v1/notes/", n.ID)},
		{"DELETE", fmt.Sprint("/api/v1/notes/", n.ID)}, {"GET", "/api/v1/export"}, {"GET", "/api/v1/openapi.json"},
		{"POST", "/api/v1/logout"},
	} {
		if rec := c.do(op.method, op.path, big, "Content-Type", "application/json"); rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s with a 3 MiB body: %d; want 413", op.method, op.path, rec.Code)
		}
	}
}
