package tenant

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// itemsInFile counts the rows of items in the tenant file at path, read by
// a connection of its own (not the pool's), as a restart would.
func itemsInFile(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM items").Scan(&n); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return n
}

// An operator removes a tenant's -wal while its handle is open (a
// "cleanup" of what looks like a temporary file). Before, the handle went
// on acknowledging writes into the unlinked WAL, and the file check, which
// compared only the database file, never noticed: by hand, three notes
// answered 201 after the removal were all gone after kill -9. Now the
// check retires the handle, whose close checkpoints every commit into the
// file, and the next open starts a new -wal.
func TestARemovedWALUnderAnOpenHandleLosesNoAcknowledgedWrite(t *testing.T) {
	p := newTestPool(t, manualChecks)
	tn := mustProvision(t, p, "alice")
	if err := acquireWrite(p, tn.ID); err != nil {
		t.Fatal(err)
	}
	path := p.tenantPath(tn.ID)
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := acquireWrite(p, tn.ID); err != nil {
		t.Fatalf("write after the -wal was removed: %v", err)
	}
	if n := p.CheckFiles(); n != 1 {
		t.Fatalf("CheckFiles retired %d handles after the -wal was removed; want 1 (writes go on into a WAL no crash recovery can find)", n)
	}
	p.drainClosing()
	if n := itemsInFile(t, path); n != 2 {
		t.Fatalf("the file holds %d rows once the handle closed; want the 2 acknowledged", n)
	}
	if err := acquireWrite(p, tn.ID); err != nil {
		t.Fatalf("write after the handle reopened: %v", err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("the reopened handle has no -wal: %v", err)
	}
	if n := p.CheckFiles(); n != 0 {
		t.Fatalf("a second check retired %d more", n)
	}
}

// Another process (an operator's sqlite3 shell, a script) holds a write
// transaction open on routing.db or a tenant file. SQLite gives up with
// SQLITE_BUSY once the busy timeout passes; that was passed on
// unclassified, so a signup, a sign-in's session write and a note write
// each answered 500 internal after 10 s (seen by hand against serve). It is
// a passing state, neither a broken file nor a bug: ErrBusy (503, retry).
// The timeout here is 0 so the test does not wait the 10 s.
func TestALockHeldByAnotherProcessIsBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "locked.db")
	holder, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK") //nolint:errcheck // the test is over

	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, lockErr := other.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	if lockErr == nil {
		t.Fatal("a write beside a held write transaction succeeded")
	}
	for name, mark := range map[string]func(error) error{
		"MarkBusy (session store)": MarkBusy, "Classify (tenant files)": Classify, "routingBusy (directory)": routingBusy,
	} {
		if err := mark(lockErr); !errors.Is(err, ErrBusy) {
			t.Errorf("%s(%v) = %v; want ErrBusy", name, lockErr, err)
		}
		if err := mark(lockErr); errors.Is(err, ErrUnavailable) {
			t.Errorf("%s(%v) = %v; a lock held elsewhere does not make the file unavailable", name, lockErr, err)
		}
	}
}

// routing.db removed (taken for a cache, or lost) or emptied (a failed
// copy, `> routing.db`) while tenants/ still holds every user's file. Before,
// OpenDirectory made a new, empty one, and serve's start-up sweep then
// moved every user's file to orphans/: all accounts gone, every name free
// for anyone to sign up as. OpenDirectory now refuses, and makes nothing.
func TestOpenDirectoryRefusesToStartOverBesideTenantFiles(t *testing.T) {
	for _, damage := range []string{"removed", "emptied"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			p := newTestPool(t, Config{Dir: dir})
			mustProvision(t, p, "alice")
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if err := p.directory.(*Directory).Close(); err != nil {
				t.Fatal(err)
			}
			routing := filepath.Join(dir, RoutingFile)
			for _, s := range []string{"-wal", "-shm"} {
				if err := os.Remove(routing + s); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
			if damage == "removed" {
				if err := os.Remove(routing); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Truncate(routing, 0); err != nil {
				t.Fatal(err)
			}
			d, err := OpenDirectory(context.Background(), routing)
			if err == nil {
				d.Close()
				t.Fatalf("OpenDirectory made a new routing.db beside a tenant's file; want ErrRoutingLost")
			}
			if !errors.Is(err, ErrRoutingLost) {
				t.Fatalf("OpenDirectory: %v; want ErrRoutingLost", err)
			}
			fi, serr := os.Stat(routing)
			switch {
			case damage == "removed" && !errors.Is(serr, os.ErrNotExist):
				t.Fatalf("a refused open made routing.db: %v", serr)
			case damage == "emptied" && (serr != nil || fi.Size() != 0):
				t.Fatalf("a refused open changed the empty routing.db: %v %v", fi, serr)
			}
		})
	}
	// A data directory with no tenant files is new: it opens.
	d, err := OpenDirectory(context.Background(), filepath.Join(t.TempDir(), RoutingFile))
	if err != nil {
		t.Fatalf("a new data directory: %v", err)
	}
	d.Close()
}

// replaceWithFile puts a regular file where the folder dir was, as a
// careless `mv`/`cp` can; unlike chmod it also stops root.
func replaceWithFile(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A tenants folder the server cannot write (read-only, chmod 500, or not a
// folder at all). Before, every signup answered 500 internal ("make tenant
// folder: mkdir …: permission denied", seen by hand with serve run as
// nobody). It is the storage's fault: ErrUnavailable (503), and nothing is
// left behind, no row and no file.
func TestProvisionIntoAnUnwritableTenantsFolderIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	p := newTestPool(t, Config{Dir: dir})
	replaceWithFile(t, filepath.Join(dir, "tenants"))
	_, err := p.Provision(context.Background(), "alice", writeAccount)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("provision into an unwritable tenants folder: %v; want ErrUnavailable", err)
	}
	if _, err := p.directory.Lookup(context.Background(), "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed provision left its row: %v", err)
	}
}

// tmp/ unwritable (read-only, or not a folder): an export answered 500
// internal ("create export-….db: … permission denied", by hand). It is
// ErrUnavailable (503), and leaves nothing.
func TestExportWithAnUnwritableTmpFolderIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	p := newTestPool(t, Config{Dir: dir})
	tn := mustProvision(t, p, "alice")
	replaceWithFile(t, filepath.Join(dir, "tmp"))
	f, err := p.Export(context.Background(), tn.ID, nil)
	if err == nil {
		f.Close()
		t.Fatal("export into a tmp that is a file succeeded")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("export with an unwritable tmp: %v; want ErrUnavailable", err)
	}
	if err := acquireWrite(p, tn.ID); err != nil {
		t.Fatalf("the tenant suffered: %v", err)
	}
}
