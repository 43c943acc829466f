package tenant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jmoiron/sqlx"
)

func TestProvisionMakesActiveTenantWithPrivateFile(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "Alice")
	if tn.Username != "alice" || tn.State != StateActive || tn.SchemaVersion != 2 || !validID(tn.ID) {
		t.Fatalf("tenant = %+v", tn)
	}
	got, err := p.Directory().Lookup(context.Background(), "ALICE")
	if err != nil || got.ID != tn.ID || got.State != StateActive {
		t.Fatalf("lookup = %+v, %v", got, err)
	}
	path := p.tenantPath(tn.ID)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v; want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v; want 0700", di.Mode().Perm())
	}
	if strings.Contains(path, "alice") {
		t.Errorf("username in path %s", path)
	}
	s, release, err := p.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var name string
	if err := s.GetContext(context.Background(), &name, "SELECT username FROM account"); err != nil || name != "alice" {
		t.Fatalf("account row = %q, %v", name, err)
	}
}

func TestProvisionFailureAtEachStepLeavesNothing(t *testing.T) {
	for _, step := range []string{"insert", "create", "migrate", "init", "activate", "init-func"} {
		t.Run(step, func(t *testing.T) {
			p := newTestPool(t, Config{})
			boom := errors.New("injected")
			p.hook = func(s string) error {
				if s == step {
					return boom
				}
				return nil
			}
			init := writeAccount
			if step == "init-func" {
				init = func(context.Context, *sqlx.Tx, Tenant) error { return boom }
			}
			_, err := p.Provision(context.Background(), "eve", init)
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v; want injected", err)
			}
			if n, _ := p.Directory().Count(context.Background()); n != 0 {
				t.Errorf("%d rows left", n)
			}
			if files := filesUnder(t, p.dir, "tenants"); len(files) != 0 {
				t.Errorf("files left: %v", files)
			}
			if st := p.Stats(); st.ProvisionFailed != 1 {
				t.Errorf("ProvisionFailed = %d", st.ProvisionFailed)
			}
			p.hook = nil
			mustProvision(t, p, "eve") // the name is free again
		})
	}
}

func TestProvisionRaceHasOneWinner(t *testing.T) {
	p := newTestPool(t, Config{})
	const n = 50
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		wins, conflict int
		others         []error
	)
	for i := range n {
		wg.Go(func() {
			name := "Racer"
			if i%2 == 0 {
				name = "racer"
			}
			_, err := p.Provision(context.Background(), name, writeAccount)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrExists):
				conflict++
			default:
				others = append(others, err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || conflict != n-1 || len(others) != 0 {
		t.Fatalf("wins %d, conflicts %d, other errors %v", wins, conflict, others)
	}
	var dbs int
	for _, f := range filesUnder(t, p.dir, "tenants") {
		if strings.HasSuffix(f, ".db") {
			dbs++
		}
	}
	if dbs != 1 {
		t.Fatalf("%d tenant files; want 1", dbs)
	}
}

func TestRecoverAfterCrash(t *testing.T) {
	dir := t.TempDir()
	p := newTestPool(t, Config{Dir: dir})
	kept := mustProvision(t, p, "kept")
	// A crash mid-provision: the row says provisioning and a file exists.
	half, err := p.Directory().create(context.Background(), newID(), "half")
	if err != nil {
		t.Fatal(err)
	}
	if err := createFile(p.tenantPath(half.ID)); err != nil {
		t.Fatal(err)
	}
	// A file with no row at all, with its WAL beside it.
	stray := p.tenantPath(newID())
	for _, f := range []string{stray, stray + "-wal"} {
		if err := createFile(f); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "tmp", "export-x.db"), []byte("x"), 0o600)

	r, err := p.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Removed) != 1 || r.Removed[0] != half.ID {
		t.Errorf("removed %v; want [%s]", r.Removed, half.ID)
	}
	if len(r.Orphaned) != 2 || r.TmpRemoved != 1 {
		t.Errorf("report %+v", r)
	}
	if _, err := os.Stat(p.tenantPath(half.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("half-made file still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "orphans", filepath.Base(stray))); err != nil {
		t.Errorf("orphan not kept: %v", err)
	}
	if _, err := p.Directory().Lookup(context.Background(), "half"); !errors.Is(err, ErrNotFound) {
		t.Errorf("half row still there: %v", err)
	}
	_, release, err := p.Acquire(context.Background(), kept.ID)
	if err != nil {
		t.Fatalf("kept tenant: %v", err)
	}
	release()
}

func TestAcquireRefusesUnknownAndProvisioningTenants(t *testing.T) {
	p := newTestPool(t, Config{})
	half, _ := p.Directory().create(context.Background(), newID(), "half")
	for _, id := range []string{"", "../../etc/passwd", newID(), half.ID, strings.ToUpper(newID())} {
		if _, _, err := p.Acquire(context.Background(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Acquire(%q) = %v; want ErrNotFound", id, err)
		}
	}
}

func TestMissingOrCorruptFileIsUnavailableNeverRecreated(t *testing.T) {
	p := newTestPool(t, Config{})
	gone := mustProvision(t, p, "gone")
	bad := mustProvision(t, p, "bad")
	if err := removeFiles(p.tenantPath(gone.ID)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.tenantPath(bad.ID), []byte(strings.Repeat("garbage!", 1024)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []Tenant{gone, bad} {
		if _, _, err := p.Acquire(context.Background(), tn.ID); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: err = %v; want ErrUnavailable", tn.Username, err)
		}
	}
	if _, err := os.Stat(p.tenantPath(gone.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file was recreated")
	}
}

func TestDeleteWaitsForHoldersAndFreesName(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "frank")
	s, release, err := p.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- p.Delete(context.Background(), tn.ID) }()
	// The holder's handle keeps working until it releases.
	for i := range 20 {
		if _, err := s.ExecContext(context.Background(), "INSERT INTO items (v) VALUES (?)", fmt.Sprint(i)); err != nil {
			t.Fatalf("holder write during delete: %v", err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Delete returned before release: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if files := filesUnder(t, p.dir, "tenants"); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	if _, _, err := p.Acquire(context.Background(), tn.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("acquire after delete: %v", err)
	}
	if err := p.Delete(context.Background(), tn.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	again := mustProvision(t, p, "frank")
	if again.ID == tn.ID {
		t.Error("a new account reused the old id")
	}
}

func TestExportIsScrubbedAndLeavesNothing(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "gina")
	scrub := func(ctx context.Context, db *sqlx.DB) error {
		_, err := db.ExecContext(ctx, "UPDATE account SET username = 'scrubbed'")
		return err
	}
	f, err := p.Export(context.Background(), tn.ID, scrub)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if left := filesUnder(t, p.dir, "tmp"); len(left) != 0 {
		t.Errorf("tmp not empty while streaming: %v", left)
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	out, _ := os.Create(copyPath)
	if _, err := out.ReadFrom(f); err != nil {
		t.Fatal(err)
	}
	out.Close()
	db, err := sqlx.Open("sqlite", copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.Get(&name, "SELECT username FROM account"); err != nil || name != "scrubbed" {
		t.Fatalf("copy account = %q, %v", name, err)
	}
	raw, _ := os.ReadFile(copyPath)
	if strings.Contains(string(raw), "gina") {
		t.Error("scrubbed value still in the copy's bytes")
	}
}

func TestRoutingDBIsPrivate(t *testing.T) {
	p := newTestPool(t, Config{})
	mustProvision(t, p, "someone") // writes, so the WAL exists
	for _, f := range []string{"routing.db", "routing.db-wal", "routing.db-shm"} {
		fi, err := os.Stat(filepath.Join(p.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v; want 0600", f, fi.Mode().Perm())
		}
	}
}

func TestDurableDirectoryWaitsForTheDisk(t *testing.T) {
	for _, c := range []struct {
		opts []DirectoryOption
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{nil, 1}, {[]DirectoryOption{DurableDirectory()}, 2}} {
		d, err := OpenDirectory(context.Background(), filepath.Join(t.TempDir(), "routing.db"), c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := d.db.Get(&got, "PRAGMA synchronous"); err != nil || got != c.want {
			t.Errorf("synchronous = %d, %v; want %d", got, err, c.want)
		}
		d.Close()
	}
}

// TestProvisionOnAFullDiskIsErrFull: a new user's file that cannot be
// written for want of space is ErrFull (a clear 503 for the signup), and
// leaves no row and no file.
func TestProvisionOnAFullDiskIsErrFull(t *testing.T) {
	p := newTestPool(t, Config{})
	p.hook = func(s string) error {
		if s == "create" {
			return &os.PathError{Op: "write", Path: "tenant file", Err: syscall.ENOSPC}
		}
		return nil
	}
	if _, err := p.Provision(context.Background(), "eve", writeAccount); !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v; want ErrFull", err)
	}
	if n, _ := p.Directory().Count(context.Background()); n != 0 {
		t.Errorf("%d rows left", n)
	}
	if files := filesUnder(t, p.dir, "tenants"); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
}
