package tenant

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
)

// walBound is the most a -wal file may hold after a burst of small writes:
// the auto-checkpoint runs at 1,000 pages (4 MiB) and journal_size_limit
// truncates the file back to 1 MiB after it.
const walBound = 5 << 20

func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// INSERT … RETURNING through Store.GetContext commits when the statement is
// reset, and SQLite runs its auto-checkpoint only when a write steps to its
// end: unless GetContext reads to the end, the WAL never shrinks while the
// handle is open.
func TestWritesReturningRowsKeepWALBounded(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "writer")
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	v := strings.Repeat("x", 2000)
	for i := range 5000 {
		var id int64
		if err := s.GetContext(ctx, &id, "INSERT INTO items (v, n) VALUES (?, ?) RETURNING id", v, i); err != nil {
			t.Fatal(err)
		}
	}
	if n := walSize(t, p.tenantPath(tn.ID)); n > walBound {
		t.Fatalf("after 5,000 inserts the -wal holds %d bytes; want at most %d", n, walBound)
	}
}

// GetContext still behaves as sqlx's Get: a struct or a scalar from the
// first row, and sql.ErrNoRows when there is none.
func TestGetContextScansFirstRowOrNoRows(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "reader")
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var row struct {
		ID int64  `db:"id"`
		V  string `db:"v"`
	}
	if err := s.GetContext(ctx, &row, "INSERT INTO items (v) VALUES ('a'), ('b') RETURNING id, v"); err != nil {
		t.Fatal(err)
	}
	if row.ID != 1 || row.V != "a" {
		t.Fatalf("first returned row = %+v; want {1 a}", row)
	}
	var n int
	if err := s.GetContext(ctx, &n, "SELECT count(*) FROM items"); err != nil || n != 2 {
		t.Fatalf("count = %d, %v; want 2 (both rows inserted)", n, err)
	}
	var v string
	if err := s.GetContext(ctx, &v, "SELECT v FROM items WHERE id = 99"); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("missing row: %v; want sql.ErrNoRows", err)
	}
	if err := s.GetContext(ctx, v, "SELECT v FROM items"); err == nil {
		t.Fatal("a non-pointer destination was accepted")
	}
}
