package tenant

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// autoCheckpointBound is the most a -wal may hold after a burst of small writes:
// the auto-checkpoint runs at 1,000 pages (4 MiB) and journal_size_limit
// truncates the file back to 1 MiB after it.
const autoCheckpointBound = 5 << 20

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
	if n := walSize(t, p.tenantPath(tn.ID)); n > autoCheckpointBound {
		t.Fatalf("after 5,000 inserts the -wal holds %d bytes; want at most %d", n, autoCheckpointBound)
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

// Whatever keeps SQLite's own checkpoint from running (here an app that
// turned it off on its connection), the pool's file check checkpoints an
// idle handle whose -wal has passed walBound, and truncates it.
func TestFileCheckCheckpointsOversizedWAL(t *testing.T) {
	p := newTestPool(t, manualChecks)
	tn := mustProvision(t, p, "writer")
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
		t.Fatal(err)
	}
	v := strings.Repeat("x", 4000)
	for range 3000 {
		if _, err := s.ExecContext(ctx, "INSERT INTO items (v) VALUES (?)", v); err != nil {
			t.Fatal(err)
		}
	}
	path := p.tenantPath(tn.ID)
	if n := walSize(t, path); n <= walBound {
		t.Fatalf("the setup left a %d-byte -wal; want more than %d", n, walBound)
	}
	p.CheckFiles() // held: left for the next check
	if n := walSize(t, path); n <= walBound {
		t.Fatalf("a held handle was checkpointed (-wal %d bytes)", n)
	}
	release()
	if n := p.CheckFiles(); n != 0 {
		t.Fatalf("CheckFiles retired %d handles", n)
	}
	if n := walSize(t, path); n > 0 {
		t.Fatalf("after the check the -wal holds %d bytes; want it truncated", n)
	}
	if st := p.Stats(); st.Open != 1 {
		t.Fatalf("open handles = %d; want the checkpointed one still open", st.Open)
	}
	var n int
	if err := acquireGet(p, tn.ID, &n, "SELECT count(*) FROM items"); err != nil || n != 3000 {
		t.Fatalf("rows after the checkpoint = %d, %v; want 3000", n, err)
	}
}

// acquireGet acquires tenant id and reads one value through it.
func acquireGet(p *Pool, id string, dest any, query string) error {
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	return s.GetContext(ctx, dest, query)
}

// routing.db's writes (directory rows here; sessions go through the same
// Exec path) step to their end, so its WAL stays bounded too, with readers
// on its other connections throughout.
func TestRoutingWritesKeepWALBounded(t *testing.T) {
	p := newTestPool(t, Config{})
	d := p.Directory()
	ctx := context.Background()
	mustProvision(t, p, "reader")
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := d.Lookup(ctx, "reader"); err != nil {
				done <- err
				return
			}
		}
	}()
	pad := strings.Repeat("n", 200)
	for i := range 1000 {
		tn, err := d.create(ctx, newID(), pad+strconv.Itoa(i))
		if err == nil {
			err = d.setState(ctx, tn.ID, StateActive, 1, pad)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := walSize(t, filepath.Join(p.dir, "routing.db")); n > autoCheckpointBound {
		t.Fatalf("after 2,000 writes routing.db's -wal holds %d bytes; want at most %d", n, autoCheckpointBound)
	}
}
