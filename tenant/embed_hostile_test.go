package tenant_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// What an embedder who misuses the package gets: an error, never a
// tenant stuck half made, a statement on a handle let go, or a wait for
// ever.

const hostileSchema = `
-- migration: 1
CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
`

func hostilePool(t *testing.T) (*tenant.Pool, string) {
	t.Helper()
	ms, err := tenant.ParseMigrations(hostileSchema)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return tenanttest.New(t, tenant.Config{Dir: dir, Migrations: ms}), dir
}

// tenantFiles lists the files under dir/tenants.
func tenantFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(dir, "tenants"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// An InitFunc that panics (net/http recovers a handler's panic, and the
// server goes on) or exits its goroutine (t.Fatal in a test's init) left
// the row provisioning and the file in place: the name was taken until the
// next Recover, every retry ErrExists.
func TestProvisionInitThatPanicsOrExitsLeavesNoTenant(t *testing.T) {
	for _, tc := range []struct {
		name string
		init tenant.InitFunc
	}{
		{"panic", func(context.Context, *sqlx.Tx, tenant.Tenant) error { panic("init blew up") }},
		{"goexit", func(context.Context, *sqlx.Tx, tenant.Tenant) error { runtime.Goexit(); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, dir := hostilePool(t)
			ctx := context.Background()
			var recovered any
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer func() { recovered = recover() }()
				p.Provision(ctx, "alice", tc.init)
			}()
			<-done
			if tc.name == "panic" && recovered != "init blew up" {
				t.Errorf("recovered %v, want init's panic to go on", recovered)
			}
			if tn, err := p.Directory().Lookup(ctx, "alice"); !errors.Is(err, tenant.ErrNotFound) {
				t.Errorf("lookup after init failed: %+v, %v; want ErrNotFound", tn, err)
			}
			if files := tenantFiles(t, dir); len(files) != 0 {
				t.Errorf("files left: %v", files)
			}
			if _, err := p.Provision(ctx, "alice", nil); err != nil {
				t.Fatalf("provision again: %v", err)
			}
		})
	}
}

// Provision on a closed pool made a tenant (row and file), though Acquire
// and Delete say ErrClosed.
func TestProvisionOnClosedPoolIsErrClosed(t *testing.T) {
	p, dir := hostilePool(t)
	ctx := context.Background()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	tn, err := p.Provision(ctx, "bob", nil)
	if !errors.Is(err, tenant.ErrClosed) {
		t.Errorf("provision after close: %+v, %v; want ErrClosed", tn, err)
	}
	if _, err := p.Directory().Lookup(ctx, "bob"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("lookup: %v, want ErrNotFound", err)
	}
	if files := tenantFiles(t, dir); len(files) != 0 {
		t.Errorf("files made: %v", files)
	}
}

// A Store kept past its release ran every statement on the handle it no
// longer held (and a lazy one, once it had opened the file, too), where a
// lazy Store that had not opened it said so.
func TestStoreAfterReleaseRunsNothing(t *testing.T) {
	p, _ := hostilePool(t)
	ctx := context.Background()
	tn, err := p.Provision(ctx, "carol", nil)
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		s, release, err := p.Acquire(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		var n int
		if err := s.GetContext(ctx, &n, "SELECT count(*) FROM items"); err != nil {
			t.Fatal(err)
		}
		return n
	}
	lazyOpened := func() (*tenant.Store, func()) {
		s, release, err := p.AcquireLazily(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.GetContext(ctx, &n, "SELECT count(*) FROM items"); err != nil {
			t.Fatal(err)
		}
		return s, release
	}
	for name, get := range map[string]func() (*tenant.Store, func()){
		"acquire": func() (*tenant.Store, func()) {
			s, release, err := p.Acquire(ctx, tn.ID)
			if err != nil {
				t.Fatal(err)
			}
			return s, release
		},
		"lazy, opened": lazyOpened,
	} {
		s, release := get()
		release()
		release() // twice: a no-op
		var n int
		var ns []int
		errs := map[string]error{}
		_, errs["exec"] = s.ExecContext(ctx, "INSERT INTO items (v) VALUES ('late')")
		errs["get"] = s.GetContext(ctx, &n, "SELECT count(*) FROM items")
		errs["select"] = s.SelectContext(ctx, &ns, "SELECT id FROM items")
		rows, qerr := s.QueryContext(ctx, "SELECT id FROM items")
		if rows != nil {
			rows.Close()
		}
		errs["query"] = qerr
		errs["tx"] = s.Tx(ctx, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO items (v) VALUES ('late tx')")
			return err
		})
		for op, err := range errs {
			if !errors.Is(err, tenant.ErrUnavailable) || !strings.Contains(err.Error(), "after its release") {
				t.Errorf("%s: %s after release: %v, want ErrUnavailable (after its release)", name, op, err)
			}
		}
	}
	if n := count(); n != 0 {
		t.Errorf("%d rows written through released Stores", n)
	}
}

// A statement on the Store inside its own Tx waited for ever for the one
// connection the Tx holds (on a handle that had not yet earned a lent
// reader); it must fail at once, and the Tx still commit what it wrote.
func TestStoreInsideItsOwnTxFailsRatherThanWaits(t *testing.T) {
	p, _ := hostilePool(t)
	ctx := context.Background()
	tn, err := p.Provision(ctx, "dave", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, release, err := p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// Bounded only so that the bug fails the test rather than hangs it.
	wait, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var inner []error
	err = s.Tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO items (v) VALUES ('in tx')"); err != nil {
			return err
		}
		var n int
		inner = append(inner, s.GetContext(wait, &n, "SELECT count(*) FROM items"))
		_, err := s.ExecContext(wait, "INSERT INTO items (v) VALUES ('beside tx')")
		inner = append(inner, err)
		inner = append(inner, s.Tx(wait, func(*sqlx.Tx) error { return nil }))
		if _, err := s.TxExecContext(ctx, tx, "INSERT INTO items (v) VALUES ('through TxExecContext')"); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("tx: %v", err)
	}
	for i, err := range inner {
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("statement %d on the Store inside its Tx: %v, want an error at once", i, err)
		}
	}
	var n int
	if err := s.GetContext(ctx, &n, "SELECT count(*) FROM items"); err != nil || n != 2 {
		t.Errorf("after the tx: %d rows, %v; want 2", n, err)
	}
}

// A Config without Dir made the pool's folders (tenants/, tmp/,
// orphans/) in the working directory.
func TestNewPoolWithoutDirIsAnError(t *testing.T) {
	ms, err := tenant.ParseMigrations(hostileSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	d, err := tenant.OpenDirectory(context.Background(), filepath.Join(t.TempDir(), tenant.RoutingFile))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p, err := tenant.NewPool(d, tenant.Config{Migrations: ms})
	if err == nil {
		p.Close()
		t.Error("NewPool without Dir: no error")
	}
	if _, err := os.Stat("tenants"); err == nil {
		t.Error("tenants/ made in the working directory")
	}
}

// A header a little off ("-- Migration: 2", "--migration: 2") read as a
// comment, so its block silently joined the one before; a schema saved
// with a byte order mark was refused as "SQL before the first header".
func TestParseMigrationsNearMissHeadersAndBOM(t *testing.T) {
	for _, src := range []string{
		"-- migration: 1\nCREATE TABLE a (x);\n-- Migration: 2\nCREATE TABLE b (x);\n",
		"-- migration: 1\nCREATE TABLE a (x);\n--migration: 2\nCREATE TABLE b (x);\n",
		"-- migration: 1\nCREATE TABLE a (x);\n-- migration 2\nCREATE TABLE b (x);\n",
		"-- MIGRATION: 1\nCREATE TABLE a (x);\n",
	} {
		if ms, err := tenant.ParseMigrations(src); err == nil {
			t.Errorf("%q: %d migrations, no error", src, len(ms))
		}
	}
	ms, err := tenant.ParseMigrations("\ufeff-- migration: 1\r\nCREATE TABLE a (x);\r\n-- migration notes: none\r\n")
	if err != nil || len(ms) != 1 || ms[0].SQL != "CREATE TABLE a (x);\n-- migration notes: none" {
		t.Errorf("schema with a BOM: %+v, %v", ms, err)
	}
}
