package tenant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
)

// addItems writes n rows to tenant id's items table through the pool.
func addItems(t testing.TB, p *Pool, id string, n int) {
	t.Helper()
	s, release, err := p.Acquire(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for i := range n {
		if _, err := s.ExecContext(context.Background(), "INSERT INTO items (v, n) VALUES ('item', ?)", i); err != nil {
			t.Fatal(err)
		}
	}
}

// readItems lists the items rows of the database file at path.
func readItems(t testing.TB, path string) []string {
	t.Helper()
	db := mustOpenRO(t, path)
	var out []string
	if err := db.Select(&out, "SELECT v || ':' || n FROM items ORDER BY id"); err != nil {
		t.Fatalf("read items of %s: %v", path, err)
	}
	return out
}

func mustOpenRO(t testing.TB, path string) *sqlx.DB {
	t.Helper()
	db, err := openReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// assertPerm fails unless path has exactly the permission bits want.
func assertPerm(t testing.TB, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %v; want %v", path, fi.Mode().Perm(), want)
	}
}

// writePairs keeps writing two rows per transaction to every tenant of ts
// until stop closes, and signals wrote after each transaction.
func writePairs(t testing.TB, p *Pool, ts []Tenant, stop <-chan struct{}, wrote chan<- struct{}) {
	ctx := context.Background()
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		default:
		}
		s, release, err := p.Acquire(ctx, ts[k%len(ts)].ID)
		if err != nil {
			t.Error(err)
			return
		}
		err = s.Tx(ctx, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO items (v, n) VALUES ('x', ?), ('y', ?)", k, k)
			return err
		})
		release()
		if err != nil {
			t.Error(err)
			return
		}
		select {
		case wrote <- struct{}{}:
		default:
		}
	}
}

// assertPrivate fails unless every file below dir (and dir) is 0600 and
// every folder 0700.
func assertPrivate(t testing.TB, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		assertPerm(t, path, want)
		return nil
	})
}

// afterAWrite is a progress callback that waits, between two tenant
// copies, for the writer to land one more transaction.
func afterAWrite(wrote, writerDone <-chan struct{}) func(done, total int) {
	return func(done, total int) {
		select {
		case <-wrote:
		default:
		}
		select {
		case <-wrote:
		case <-writerDone:
		}
	}
}

func TestBackupWhileWritingGivesConsistentVerifiedCopies(t *testing.T) {
	p := newTestPool(t, Config{})
	ts := provisionN(t, p, 4)
	for _, tn := range ts {
		addItems(t, p, tn.ID, 20)
	}
	stop, wrote, writerDone := make(chan struct{}), make(chan struct{}, 1), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(writerDone)
		writePairs(t, p, ts, stop, wrote)
	})
	out := filepath.Join(t.TempDir(), "backup")
	m, err := Backup(context.Background(), p.dir, out,
		BackupOptions{SchemaVersion: 2, Jobs: 2, Progress: afterAWrite(wrote, writerDone)})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tenants) != len(ts) || len(m.Missing) != 0 || m.SchemaVersion != 2 {
		t.Fatalf("manifest has %d tenants, missing %v, schema %d", len(m.Tenants), m.Missing, m.SchemaVersion)
	}
	if onDisk, err := ReadManifest(out); err != nil || len(onDisk.Tenants) != len(ts) || onDisk.Routing != m.Routing {
		t.Fatalf("manifest.json = %+v, %v", onDisk, err)
	}
	for i, mt := range m.Tenants {
		if mt.ID != ts[i].ID || mt.Username != ts[i].Username || mt.SchemaVersion != 2 {
			t.Errorf("tenant %d = %+v; want %s (%s) at version 2", i, mt, ts[i].ID, ts[i].Username)
		}
		var x, y int
		db := mustOpenRO(t, filepath.Join(out, filepath.FromSlash(mt.Path)))
		db.Get(&x, "SELECT count(*) FROM items WHERE v = 'x'")
		db.Get(&y, "SELECT count(*) FROM items WHERE v = 'y'")
		if x != y {
			t.Errorf("%s: %d x rows but %d y rows: a transaction was split", mt.Username, x, y)
		}
	}
	for _, f := range m.files() {
		if err := verifyFile(out, f); err != nil {
			t.Error(err)
		}
		db := mustOpenRO(t, filepath.Join(out, filepath.FromSlash(f.Path)))
		if detail := integrity(context.Background(), db, false); detail != "" {
			t.Errorf("%s: %s", f.Path, detail)
		}
	}
	assertPrivate(t, out)
}

func TestBackupRefusesUnfitOutFolder(t *testing.T) {
	p := newTestPool(t, Config{})
	mustProvision(t, p, "alice")
	for _, tc := range []struct {
		name    string
		out     func(t *testing.T) string
		wantErr error // nil: any error
	}{
		{"holds a file", func(t *testing.T) string {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine"), 0o600)
			return dir
		}, ErrNotEmpty},
		{"holds an empty folder", func(t *testing.T) string {
			dir := t.TempDir()
			os.Mkdir(filepath.Join(dir, "sub"), 0o700)
			return dir
		}, ErrNotEmpty},
		{"is a file", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "file")
			os.WriteFile(path, []byte("mine"), 0o600)
			return path
		}, nil},
		{"lies inside the data folder", func(t *testing.T) string {
			return filepath.Join(p.dir, "backup")
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.out(t)
			before := filesUnder(t, out, "")
			_, err := Backup(context.Background(), p.dir, out, BackupOptions{})
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v; want %v", err, tc.wantErr)
			}
			if after := filesUnder(t, out, ""); !slices.Equal(before, after) {
				t.Errorf("files changed: %v -> %v", before, after)
			}
		})
	}
}

func TestBackupReportsMissingTenantAndKeepsTheOthers(t *testing.T) {
	p := newTestPool(t, Config{})
	alice, bob := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	addItems(t, p, alice.ID, 3)
	p.Close()
	if err := removeFiles(p.tenantPath(bob.ID)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "backup")
	m, err := Backup(context.Background(), p.dir, out, BackupOptions{})
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err = %v; want ErrIncomplete", err)
	}
	if len(m.Tenants) != 1 || m.Tenants[0].ID != alice.ID {
		t.Errorf("tenants = %+v; want alice only", m.Tenants)
	}
	if len(m.Missing) != 1 || m.Missing[0].ID != bob.ID || m.Missing[0].Username != "bob" {
		t.Errorf("missing = %+v; want bob", m.Missing)
	}
	onDisk, err := ReadManifest(out)
	if err != nil || len(onDisk.Missing) != 1 {
		t.Fatalf("manifest.json = %+v, %v; want bob listed missing", onDisk, err)
	}
	if got := readItems(t, filepath.Join(out, filepath.FromSlash(tenantRel(alice.ID)))); len(got) != 3 {
		t.Errorf("alice's copy holds %v", got)
	}
}

func TestBackupLeavesOutProvisioningAndDeletedTenants(t *testing.T) {
	p := newTestPool(t, Config{})
	ctx := context.Background()
	alice, bob := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	ghost, err := p.sqlite.create(ctx, newID(), "ghost")
	if err != nil {
		t.Fatal(err)
	}
	if err := createFile(p.tenantPath(ghost.ID)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "backup")
	m, err := Backup(ctx, p.dir, out, BackupOptions{Progress: func(done, total int) {
		if done == 1 { // alice is copied; bob is deleted before his turn
			if err := p.Delete(ctx, bob.ID); err != nil {
				t.Error(err)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tenants) != 1 || m.Tenants[0].ID != alice.ID || len(m.Missing) != 0 {
		t.Fatalf("manifest tenants %+v, missing %+v; want alice only", m.Tenants, m.Missing)
	}
	var names []string
	mustOpenRO(t, filepath.Join(out, RoutingFile)).Select(&names, "SELECT username FROM tenants")
	if !slices.Equal(names, []string{"alice"}) {
		t.Errorf("routing copy holds %v; want [alice]", names)
	}
	if files := filesUnder(t, out, "tenants"); len(files) != 1 {
		t.Errorf("backup tenant files %v; want alice's only", files)
	}
}

// fileState is what a live file looks like, to tell that it was not touched.
func fileState(t testing.TB, paths []string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, path := range paths {
		n, sum, err := sumFile(path)
		if err != nil {
			continue
		}
		fi, _ := os.Stat(path)
		out[path] = fmt.Sprint(sum, fi.ModTime(), n)
	}
	return out
}

func TestBackupAndCheckChangeNoLiveFile(t *testing.T) {
	p := newTestPool(t, Config{})
	for _, tn := range provisionN(t, p, 3) {
		addItems(t, p, tn.ID, 5)
	}
	p.Close()
	var live []string
	for _, f := range append(filesUnder(t, p.dir, "tenants"), filepath.Join(p.dir, RoutingFile)) {
		if strings.HasSuffix(f, ".db") {
			live = append(live, f, f+"-wal") // -shm is an index any reader may update
		}
	}
	if len(live) != 8 {
		t.Fatalf("live files %v; want 4 databases and their WALs", live)
	}
	before := fileState(t, live)
	if _, err := Backup(context.Background(), p.dir, filepath.Join(t.TempDir(), "b"), BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	if r, err := Check(context.Background(), p.dir, CheckOptions{}); err != nil || !r.OK() {
		t.Fatalf("check = %+v, %v", r, err)
	}
	after := fileState(t, live)
	for path, was := range before {
		if after[path] != was {
			t.Errorf("%s changed", path)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d live files before, %d after", len(before), len(after))
	}
}
