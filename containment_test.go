package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
)

// Served as serve wires it: a user whose file is corrupt and one whose
// migration fails get 503 tenant_unavailable while the others are served,
// and `cubby check` names both, and only them.
func TestBrokenTenantsAreContainedAndCheckNamesThem(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	clients := map[string]*apiClient{}
	ids := map[string]string{}
	for _, name := range []string{"alice", "bob", "carol"} {
		c := &apiClient{t: t, app: a.app}
		c.want(http.StatusCreated, "POST", "/api/v1/signup", fmt.Sprintf(`{"username":%q,"password":%q}`, name, testPassword))
		c.want(http.StatusCreated, "POST", "/api/v1/notes", `{"title":"note of `+name+`"}`)
		clients[name] = c
		tn, err := a.d.Routing().Lookup(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = tn.ID
	}
	a.close()
	// bob's file claims no migrations, so the first runs again and fails;
	// carol's starts with garbage.
	sqlExec(t, tenantPath(dir, ids["bob"]), "PRAGMA user_version = 0")
	f, err := os.OpenFile(tenantPath(dir, ids["carol"]), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("garbage!", 16)), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b := openTestApp(t, dir)
	for name, c := range clients {
		c.app = b.app
		want, code := http.StatusOK, "note of "+name
		if name != "alice" {
			want, code = http.StatusServiceUnavailable, `"tenant_unavailable"`
		}
		if body := c.want(want, "GET", "/api/v1/notes", ""); !strings.Contains(body, code) {
			t.Errorf("%s: %s; want %s", name, body, code)
		}
	}
	clients["alice"].want(http.StatusCreated, "POST", "/api/v1/notes", `{"title":"still served"}`)
	b.close()

	out, _ := wantRun(t, exitFailure, []string{"2 problem(s)"}, "check", "--data", dir)
	for _, want := range []string{"failed: tenant " + ids["bob"] + " (bob)", "corrupt: tenant " + ids["carol"] + " (carol)"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "alice") {
		t.Errorf("check names alice:\n%s", out)
	}
}
