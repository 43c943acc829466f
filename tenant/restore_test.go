package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// backupOf provisions names with a few items each in a fresh pool, backs
// it up, and returns the pool and the backup folder.
func backupOf(t testing.TB, names ...string) (*Pool, string, Manifest) {
	t.Helper()
	p := newTestPool(t, Config{})
	for i, name := range names {
		addItems(t, p, mustProvision(t, p, name).ID, i+2)
	}
	out := filepath.Join(t.TempDir(), "backup")
	m, err := Backup(context.Background(), p.dir, out, BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p, out, m
}

func TestRestoreServesTheSameRows(t *testing.T) {
	ctx := context.Background()
	p := newTestPool(t, Config{})
	alice, bob := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	addItems(t, p, alice.ID, 4)
	addItems(t, p, bob.ID, 2)
	if err := p.sqlite.setState(ctx, bob.ID, StateFailed, 2, "migration 3: boom"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Directory().DB().ExecContext(ctx, // sessions live in routing.db too
		"CREATE TABLE sessions (token TEXT PRIMARY KEY); INSERT INTO sessions VALUES ('tok')"); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "backup")
	if _, err := Backup(ctx, p.dir, out, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "data")
	var calls []int
	m, err := Restore(ctx, out, target, func(done, total int) { calls = append(calls, done, total) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tenants) != 2 || !slices.Equal(calls[len(calls)-2:], []int{6, 6}) {
		t.Errorf("manifest %d tenants, progress %v; want 2 and ending at 6 of 6", len(m.Tenants), calls)
	}
	assertPrivate(t, target)
	if files := filesUnder(t, target, "tmp"); len(files) != 0 {
		t.Errorf("left in tmp/: %v", files)
	}

	q := newTestPool(t, Config{Dir: target})
	for _, want := range []Tenant{alice, bob} {
		got, err := q.Directory().Lookup(ctx, want.Username)
		if err != nil || got.ID != want.ID {
			t.Fatalf("lookup %s = %+v, %v", want.Username, got, err)
		}
		s, release, err := q.Acquire(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		err = s.SelectContext(ctx, &rows, "SELECT v || ':' || n FROM items ORDER BY id")
		release()
		if orig := readItems(t, p.tenantPath(want.ID)); err != nil || !slices.Equal(rows, orig) {
			t.Errorf("%s: restored rows %v, %v; want %v", want.Username, rows, err, orig)
		}
	}
	var tok string
	if err := q.Directory().DB().QueryRowContext(ctx, "SELECT token FROM sessions").Scan(&tok); err != nil || tok != "tok" {
		t.Errorf("session = %q, %v", tok, err)
	}
}

func TestRestoreRefusesNonEmptyTarget(t *testing.T) {
	_, out, _ := backupOf(t, "alice")
	for _, tc := range []struct {
		name  string
		files []string // made in the target; a trailing / makes a folder
		ok    bool
	}{
		{"routing db", []string{"routing.db"}, false},
		{"tenant file", []string{"tenants/ab/ab.db"}, false},
		{"file in tmp", []string{"tmp/export-1.db"}, false},
		{"other file", []string{"notes.txt"}, false},
		{"other folder", []string{"backup/"}, false},
		{"lock, gitkeep and empty folders", []string{".lock", ".gitkeep", "tmp/", "orphans/", "tenants/3f/"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := t.TempDir()
			for _, f := range tc.files {
				path := filepath.Join(target, filepath.FromSlash(f))
				if f[len(f)-1] == '/' {
					os.MkdirAll(path, 0o700)
					continue
				}
				os.MkdirAll(filepath.Dir(path), 0o700)
				os.WriteFile(path, []byte("x"), 0o600)
			}
			before := filesUnder(t, target, "")
			_, err := Restore(context.Background(), out, target, nil)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrNotEmpty) {
				t.Fatalf("err = %v; want ErrNotEmpty", err)
			}
			if after := filesUnder(t, target, ""); !slices.Equal(before, after) {
				t.Errorf("files changed: %v -> %v", before, after)
			}
		})
	}
}

func TestRestoreRejectsDamagedBackupBeforeWriting(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string, m Manifest)
	}{
		{"tenant file with a flipped byte", func(t *testing.T, dir string, m Manifest) {
			flipByte(t, filepath.Join(dir, filepath.FromSlash(m.Tenants[1].Path)), 5000)
		}},
		{"truncated routing db", func(t *testing.T, dir string, m Manifest) {
			os.Truncate(filepath.Join(dir, RoutingFile), 4096)
		}},
		{"missing tenant file", func(t *testing.T, dir string, m Manifest) {
			os.Remove(filepath.Join(dir, filepath.FromSlash(m.Tenants[0].Path)))
		}},
		{"no manifest", func(t *testing.T, dir string, m Manifest) {
			os.Remove(filepath.Join(dir, ManifestName))
		}},
		{"manifest path leaving the folder", func(t *testing.T, dir string, m Manifest) {
			m.Tenants[0].Path = "../../evil.db"
			raw, _ := json.Marshal(m)
			os.WriteFile(filepath.Join(dir, ManifestName), raw, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, m := backupOf(t, "alice", "bob")
			tc.damage(t, out, m)
			target := filepath.Join(t.TempDir(), "data")
			_, err := Restore(context.Background(), out, target, nil)
			if !errors.Is(err, ErrBadBackup) {
				t.Fatalf("err = %v; want ErrBadBackup", err)
			}
			if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("target made: %v (files %v)", err, filesUnder(t, target, ""))
			}
		})
	}
}

func TestRestoreRemovesWhatItWroteWhenAFileChangesMidway(t *testing.T) {
	_, out, m := backupOf(t, "alice", "bob", "carol")
	target := filepath.Join(t.TempDir(), "data")
	n := len(m.files())
	_, err := Restore(context.Background(), out, target, func(done, total int) {
		if done == n+1 { // verified all, copied the first: now spoil routing.db, copied last
			flipByte(t, filepath.Join(out, RoutingFile), 100)
		}
	})
	if !errors.Is(err, ErrBadBackup) {
		t.Fatalf("err = %v; want ErrBadBackup", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("target left behind: %v (files %v)", err, filesUnder(t, target, ""))
	}
}

// flipByte inverts the byte at offset off of the file at path.
func flipByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
