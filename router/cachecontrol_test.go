package router

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

// Every route that reads a session answers with Cache-Control: no-store,
// whatever it answers, so that no browser or shared cache keeps a page, a
// note or an export of a signed-in user. The routes are taken from the
// route table, so a route added later is covered too.
func TestEveryUserRouteIsNotStored(t *testing.T) {
	r := newRig(t, rigOptions{})
	routes := 0
	for i, rt := range r.app.routeTable() {
		if len(rt.mws) == 0 {
			continue // health checks and static files carry no user data
		}
		routes++
		c := r.client()
		c.signup(fmt.Sprintf("cache%02d", i), "correct horse")
		n := c.createNote("title", "body")
		path := strings.ReplaceAll(rt.path, ":id", fmt.Sprint(n.ID))
		var rec *httptest.ResponseRecorder
		switch {
		case rt.method == "GET":
			rec = c.do(rt.method, path, nil)
		case strings.HasPrefix(path, "/api/"):
			rec = c.do(rt.method, path, map[string]string{"password": "correct horse"})
		default:
			rec = c.form(path, "title", "t", "body", "b", "password", "correct horse")
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s %s: %d with Cache-Control %q; want no-store", rt.method, rt.path, rec.Code, got)
		}
	}
	if routes < 20 {
		t.Fatalf("only %d routes with a session in the table", routes)
	}
}
