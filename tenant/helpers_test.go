package tenant

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"
)

const testSchema = `
-- migration: 1
CREATE TABLE account (id INTEGER PRIMARY KEY, username TEXT NOT NULL);
CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
-- migration: 2
ALTER TABLE items ADD COLUMN n INTEGER NOT NULL DEFAULT 0;
`

func testMigrations(t testing.TB) []Migration {
	t.Helper()
	ms, err := ParseMigrations(testSchema)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// newTestPool opens a pool on a fresh temp dir; cfg.Dir and Migrations
// default to that dir and testSchema.
func newTestPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Migrations == nil {
		cfg.Migrations = testMigrations(t)
	}
	d, err := OpenDirectory(context.Background(), filepath.Join(cfg.Dir, "routing.db"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		d.Close()
	})
	return p
}

func writeAccount(ctx context.Context, tx *sqlx.Tx, t Tenant) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO account (username) VALUES (?)", t.Username)
	return err
}

func mustProvision(t testing.TB, p *Pool, name string) Tenant {
	t.Helper()
	tn, err := p.Provision(context.Background(), name, writeAccount)
	if err != nil {
		t.Fatalf("provision %s: %v", name, err)
	}
	return tn
}

// filesUnder lists every regular file below dir/sub.
func filesUnder(t testing.TB, dir, sub string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(dir, sub), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// drainClosing waits until the background closer has shut every retired
// handle.
func (p *Pool) drainClosing() {
	for {
		p.mu.Lock()
		var ch chan struct{}
		for _, c := range p.closing {
			ch = c
			break
		}
		p.mu.Unlock()
		if ch == nil {
			return
		}
		<-ch
	}
}
