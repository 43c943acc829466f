package tenant

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
)

func TestStoreCannotAttachAnotherFile(t *testing.T) {
	p := newTestPool(t, Config{})
	a := mustProvision(t, p, "alice")
	b := mustProvision(t, p, "bob")
	s, release, err := p.Acquire(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, q := range []string{
		"ATTACH DATABASE '" + p.tenantPath(b.ID) + "' AS other",
		"ATTACH '" + filepath.Join(t.TempDir(), "new.db") + "' AS fresh",
		"DETACH DATABASE main",
	} {
		_, err := s.ExecContext(context.Background(), q)
		if err == nil || !strings.Contains(err.Error(), "not authorized") {
			t.Errorf("%s: err = %v; want not authorized", q, err)
		}
	}
}

func TestRollbackModeFileIsPutInWALModeAtOpen(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "restored")
	p.Close()
	db, err := sqlx.Open("sqlite", p.tenantPath(tn.ID))
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.Get(&mode, "PRAGMA journal_mode = DELETE"); err != nil || mode != "delete" {
		t.Fatalf("switch to rollback mode: %q, %v", mode, err)
	}
	db.Close()

	p = reopen(t, p, Config{})
	s, release, err := p.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := s.GetContext(context.Background(), &mode, "PRAGMA journal_mode"); err != nil || mode != "wal" {
		t.Fatalf("journal mode after open = %q, %v; want wal", mode, err)
	}
}

// TestFullFileIsErrFull: a write the file cannot grow for (a page limit
// here; a full disk gives SQLite the same SQLITE_FULL) is ErrFull, writes
// nothing, and leaves the handle serving.
func TestFullFileIsErrFull(t *testing.T) {
	p := newTestPool(t, Config{})
	alice := mustProvision(t, p, "alice")
	addItems(t, p, alice.ID, 1)
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := s.ExecContext(ctx, "PRAGMA max_page_count = 1"); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 1<<20)
	if _, err := s.ExecContext(ctx, "INSERT INTO items (v) VALUES (?)", big); !errors.Is(err, ErrFull) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("write past the limit: %v; want ErrFull only", err)
	}
	var n int
	if err := s.GetContext(ctx, &n, "SELECT count(*) FROM items"); err != nil || n != 1 {
		t.Errorf("after the refused write: %d rows, %v; want 1", n, err)
	}
}
