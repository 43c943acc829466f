// Package tenanttest gives tests a ready tenant.Pool on a temporary
// directory, closed when the test ends, and the migrations of a schema
// file to give it.
package tenanttest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cubbyhq/cubby/tenant"
)

// New opens a Directory and a Pool in a fresh t.TempDir() (unless cfg.Dir
// is set) and closes both when the test ends. cfg.Migrations is required;
// see Migrations to read them from a schema file.
func New(tb testing.TB, cfg tenant.Config) *tenant.Pool {
	tb.Helper()
	if cfg.Dir == "" {
		cfg.Dir = tb.TempDir()
	}
	d, err := tenant.OpenDirectory(context.Background(), filepath.Join(cfg.Dir, tenant.RoutingFile))
	if err != nil {
		tb.Fatalf("open directory: %v", err)
	}
	p, err := tenant.NewPool(d, cfg)
	if err != nil {
		d.Close()
		tb.Fatalf("open pool: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("close pool: %v", err)
		}
		if err := d.Close(); err != nil {
			tb.Errorf("close directory: %v", err)
		}
	})
	return p
}

// Migrations reads and parses a schema file such as the project's schema.sql.
func Migrations(tb testing.TB, path string) []tenant.Migration {
	tb.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read schema: %v", err)
	}
	ms, err := tenant.ParseMigrations(string(src))
	if err != nil {
		tb.Fatalf("parse schema %s: %v", path, err)
	}
	return ms
}
