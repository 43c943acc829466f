package router

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// A request that never lets go of its tenant (a client that stopped
// reading) must not make the owner's account deletion hang: it answers 503
// busy within its bound, the account stays whole and usable, and deleting
// again once the holder is gone works.
func TestAccountDeletionGivesUpWhileHeldAndLeavesAccountWhole(t *testing.T) {
	r := newRig(t, rigOptions{deleteWait: 20 * time.Millisecond})
	c := r.client()
	c.signup("alice", "correct horse")
	c.createNote("kept", "through a refused delete")
	tn, err := r.pool.Directory().Lookup(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, release, err := r.pool.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	rec := c.do("DELETE", "/api/v1/account", `{"password":"correct horse"}`)
	wantError(t, rec, 503, "busy")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 busy without Retry-After")
	}
	if rec := c.do("GET", "/api/v1/notes", nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "kept") {
		t.Fatalf("notes after a refused delete: %d %s", rec.Code, rec.Body)
	}
	other := r.client()
	if rec := other.do("POST", "/api/v1/login", `{"username":"alice","password":"correct horse"}`); rec.Code != http.StatusOK {
		t.Fatalf("login after a refused delete: %d %s", rec.Code, rec.Body)
	}
	wantError(t, r.client().do("POST", "/api/v1/signup", `{"username":"alice","password":"another horse"}`), 409, "username_taken")
	if _, err := os.Stat(r.tenantFile("alice")); err != nil {
		t.Fatalf("file after a refused delete: %v", err)
	}

	release()
	if rec := c.do("DELETE", "/api/v1/account", `{"password":"correct horse"}`); rec.Code != http.StatusNoContent {
		t.Fatalf("delete once released: %d %s", rec.Code, rec.Body)
	}
	wantError(t, other.do("GET", "/api/v1/me", nil), 401, "unauthenticated")
	r.client().signup("alice", "another horse")
}
