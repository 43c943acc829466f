package datadir

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/auth/authtest"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// testOptions are Options for a test: the real schema, cheap hashing, no
// session sweeper.
func testOptions(t *testing.T) Options {
	t.Helper()
	return Options{
		Migrations: tenanttest.Migrations(t, "../schema.sql"),
		Hasher:     auth.NewHasher(authtest.Params(), 0),
		Sessions:   auth.SessionStoreConfig{CleanupInterval: -1},
	}
}

// openTest opens dir (making it) and closes it when the test ends.
func openTest(t *testing.T, dir string) *DataDir {
	t.Helper()
	o := testOptions(t)
	o.Create = true
	d, err := Open(t.Context(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// names lists what dir holds, or nil when it is missing.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestOpenWiresEveryPartOverOneDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := openTest(t, dir)
	tn, err := d.Accounts().Signup(t.Context(), "alice", "correct horse battery", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Routing().Lookup(t.Context(), "alice"); err != nil || got.ID != tn.ID {
		t.Fatalf("routing lookup: %+v, %v", got, err)
	}
	if d.Pool().Directory() != d.Routing() || len(d.DeviceKey()) == 0 || d.Sessions() == nil || d.Path() != dir {
		t.Fatal("the parts are not wired over one directory")
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v, %v; want a 0700 folder", fi, err)
	}
}

func TestASecondWriterIsRefusedUntilTheFirstCloses(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir)
	o := testOptions(t)
	if _, err := Open(t.Context(), dir, o); !errors.Is(err, ErrLocked) ||
		!strings.Contains(err.Error(), "another cubby process (serve, migrate, delete-user or restore) is using "+dir) {
		t.Fatalf("second open: %v; want ErrLocked naming %s", err, dir)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(t.Context(), dir, o)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseIsSafeTwiceAndReturnsWhatFailed(t *testing.T) {
	d := openTest(t, t.TempDir())
	d.lock.f.Close() // the lock file's descriptor gone under it
	err := d.Close()
	if err == nil || !strings.Contains(err.Error(), "release lock") {
		t.Fatalf("close: %v; want the lock's failure", err)
	}
	if again := d.Close(); again != err {
		t.Fatalf("second close: %v; want the first's %v", again, err)
	}
	if _, _, err := d.Pool().Acquire(t.Context(), "00000000000000000000000000000000"); !errors.Is(err, tenant.ErrClosed) {
		t.Fatalf("acquire after close: %v; want ErrClosed", err)
	}
}

func TestARefusedOpenLeavesTheDirectoryAsItWas(t *testing.T) {
	o := testOptions(t)
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := Open(t.Context(), missing, o); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("open of a missing directory: %v", err)
	}
	if got := names(t, missing); got != nil {
		t.Fatalf("a refused open made %v", got)
	}
	empty := t.TempDir()
	if _, err := Open(t.Context(), empty, o); err == nil || !strings.Contains(err.Error(), "holds no routing.db") {
		t.Fatalf("open of a folder without routing.db: %v", err)
	}
	damaged := t.TempDir()
	if err := os.WriteFile(filepath.Join(damaged, tenant.RoutingFile), []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	o.Create = true
	if _, err := Open(t.Context(), damaged, o); err == nil {
		t.Fatal("opened a damaged routing.db")
	}
	for dir, want := range map[string][]string{empty: nil, damaged: {tenant.RoutingFile}} {
		if got := names(t, dir); !slices.Equal(got, want) {
			t.Errorf("%s holds %v after a refused open; want %v", dir, got, want)
		}
	}
}

func TestDoneTakesBackWhatOpenMadeWhenTheCommandFails(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	o := testOptions(t)
	o.Create = true
	d, err := Open(t.Context(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	failed := errors.New("the user does not exist")
	err = failed
	d.Done(&err)
	if !errors.Is(err, failed) {
		t.Fatalf("done: %v; want the command's error", err)
	}
	if got := names(t, parent); len(got) != 0 {
		t.Fatalf("a failed command left %v", got)
	}

	kept := openTest(t, t.TempDir())
	err = nil
	kept.Done(&err)
	if err != nil || len(names(t, kept.Path())) == 0 {
		t.Fatalf("a command that succeeded: %v, left %v", err, names(t, kept.Path()))
	}
}

func TestReadOnlyRunsBesideAWriterAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir)
	if _, err := d.Accounts().Signup(t.Context(), "alice", "correct horse battery", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	before := names(t, dir)
	ro, err := OpenReadOnly(t.Context(), dir, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	routing, err := ro.Routing(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	if err := routing.Walk(t.Context(), 0, func(tn tenant.Tenant) error {
		seen = append(seen, tn.Username)
		return nil
	}); err != nil || !slices.Equal(seen, []string{"alice"}) {
		t.Fatalf("walk: %v, %v", seen, err)
	}
	if _, err := routing.DB().Exec("DELETE FROM tenants"); err == nil {
		t.Fatal("wrote through a read-only directory")
	}
	r, err := ro.Check(t.Context(), tenant.CheckOptions{Jobs: 1})
	if err != nil || !r.OK() || r.Tenants != 1 {
		t.Fatalf("check beside a writer: %+v, %v", r, err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ro.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if got := names(t, dir); !slices.Equal(got, before) {
		t.Fatalf("read-only open changed %v into %v", before, got)
	}
}

func TestRestoreIsRefusedWhileAnotherProcessHoldsTheLock(t *testing.T) {
	target := t.TempDir()
	lock, err := TakeLock(target)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if _, err := Restore(context.Background(), t.TempDir(), target, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("restore into a locked directory: %v; want ErrLocked", err)
	}
	if got := names(t, target); !slices.Equal(got, []string{lockName}) {
		t.Fatalf("target holds %v; want only the other process's lock file", got)
	}
}
