package router

import (
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// A tenant file removed under a running server: /me says so at once, and
// once the pool's file check has run, writes are refused too rather than
// answered 201 into a file that is gone at the next restart.
func TestRemovedTenantFileAnswersTenantUnavailable(t *testing.T) {
	r := newRig(t, rigOptions{pool: tenant.Config{FileCheckInterval: time.Hour}})
	c := r.client()
	c.signup("alice", "correct horse")
	c.createNote("kept", "until the file went")
	path := r.tenantFile("alice")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.do("GET", "/api/v1/me", nil), 503, "tenant_unavailable")
	if n := r.pool.CheckFiles(); n != 1 {
		t.Fatalf("CheckFiles retired %d handles; want 1", n)
	}
	for range 2 {
		wantError(t, c.do("POST", "/api/v1/notes", map[string]string{"title": "lost", "body": ""}), 503, "tenant_unavailable")
		wantError(t, c.do("GET", "/api/v1/me", nil), 503, "tenant_unavailable")
		wantError(t, c.do("GET", "/api/v1/notes", nil), 503, "tenant_unavailable")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the removed file is back: %v", err)
	}
	other := r.client()
	other.signup("bob", "correct horse")
	other.createNote("fine", "")
}
