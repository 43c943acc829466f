package tenant

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
)

// evict makes room in a one-slot pool by acquiring another tenant, and
// waits until the evicted handle is closed.
func evict(t *testing.T, p *Pool, other string) {
	t.Helper()
	insertItem(t, p, other, "x")
	p.drainClosing()
}

func TestReopenOfAnUnchangedFileSkipsTheVersionQuery(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 1})
	a, b := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	insertItem(t, p, a.ID, "a")
	evict(t, p, b.ID)
	before := p.Stats().KnownReopens
	if v := readItem(t, p, a.ID); v != "a" {
		t.Fatalf("read %q after reopen, want a", v)
	}
	if got := p.Stats().KnownReopens - before; got != 1 {
		t.Errorf("reopen skipped the version query %d times, want 1", got)
	}
}

func TestReopenOfAChangedFileChecksItsVersion(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 1})
	a, b := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	insertItem(t, p, a.ID, "a")
	evict(t, p, b.ID)
	// Another writer takes the file back to version 1 while it is closed.
	db, err := sqlx.Open("sqlite", fileDSN(p.tenantPath(a.ID), "rw", false))
	if err != nil {
		t.Fatal(err)
	}
	db.MustExec("ALTER TABLE items DROP COLUMN n")
	db.MustExec("PRAGMA user_version = 1")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := p.Stats()
	if v := readItem(t, p, a.ID); v != "a" {
		t.Fatalf("read %q after reopen, want a", v)
	}
	after := p.Stats()
	if after.KnownReopens != before.KnownReopens {
		t.Error("a changed file was reopened without its version query")
	}
	if after.Migrated != before.Migrated+1 {
		t.Errorf("migrated %d files on reopen, want 1", after.Migrated-before.Migrated)
	}
}

func TestDeletedTenantIsForgotten(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 1})
	a, b := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	insertItem(t, p, a.ID, "a")
	evict(t, p, b.ID)
	if err := p.Delete(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	_, ok := p.known[a.ID]
	p.mu.Unlock()
	if ok {
		t.Error("the pool still remembers a deleted tenant's file")
	}
}
