package router

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cubbyhq/cubby/tenant"
)

// With one handle for two users, a user's note read after the other user
// took the handle is answered from the memo her closed handle kept, without
// opening her file; the other user never sees it; a change through the API
// is seen at once; a file removed under the closed handle is not answered
// from memory.
func TestAClosedTenantsNoteIsAnsweredFromItsKeptMemo(t *testing.T) {
	r := newRig(t, rigOptions{pool: tenant.Config{MaxOpen: 1}})
	alice, bob := r.client(), r.client()
	alice.signup("alice", "correct horse")
	bob.signup("bob", "battery staple")
	n := alice.createNote("mine", "alice's words")
	path := fmt.Sprintf("/api/v1/notes/%d", n.ID)
	mustStatus(t, alice.do("GET", path, nil), 200) // read once: kept in her memo
	swap := func() {
		t.Helper()
		wantError(t, bob.do("GET", path, nil), 404, "not_found") // bob's own file, which takes the handle
		waitFor(t, "alice's memo kept", func() bool { return r.pool.Stats().KeptMemos == 1 })
	}
	swap()
	before := r.pool.Stats()
	if got := decode[noteJSON](t, alice.do("GET", path, nil)); got.Body != "alice's words" {
		t.Fatalf("alice reads %q", got.Body)
	}
	if after := r.pool.Stats(); after.KeptHits != before.KeptHits+1 || after.Misses != before.Misses {
		t.Fatalf("stats went from %+v to %+v; want a kept hit and no file opened", before, after)
	}

	mustStatus(t, alice.do("PUT", path, map[string]string{"title": "mine", "body": "changed"}), 200)
	mustStatus(t, alice.do("GET", path, nil), 200)
	swap()
	if got := decode[noteJSON](t, alice.do("GET", path, nil)); got.Body != "changed" {
		t.Fatalf("after a change alice reads %q", got.Body)
	}

	swap()
	tn, err := r.pool.Directory().Lookup(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(r.dir, "tenants", tn.ID[:2], tn.ID+".db")); err != nil {
		t.Fatal(err)
	}
	wantError(t, alice.do("GET", path, nil), 503, "tenant_unavailable")
}
