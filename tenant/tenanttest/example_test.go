package tenanttest_test

// This file is an example to copy: how the tests of an app built on package
// tenant get a pool. A go doc Example cannot hold a *testing.T, so it is a
// real test, run by go test like any other.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// The app's schema, as it would sit in the app's own schema.sql.
const schema = `
-- migration: 1
CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
`

// Each test gets a pool of its own on a fresh temporary directory, closed
// (and checked to close cleanly) when the test ends.
func TestExampleTwoTenantsSeeOnlyTheirOwnRows(t *testing.T) {
	ctx := context.Background()
	ms, err := tenant.ParseMigrations(schema)
	if err != nil {
		t.Fatal(err)
	}
	p := tenanttest.New(t, tenant.Config{Migrations: ms})

	add := func(name, title string) {
		t.Helper()
		tn, err := p.Provision(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, release, err := p.Acquire(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if _, err := s.ExecContext(ctx, "INSERT INTO todos (title) VALUES (?)", title); err != nil {
			t.Fatal(err)
		}
	}
	add("alice", "alice's todo")
	add("bob", "bob's todo")

	tn, err := p.Directory().Lookup(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	s, release, err := p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var titles []string
	if err := s.SelectContext(ctx, &titles, "SELECT title FROM todos"); err != nil {
		t.Fatal(err)
	}
	if len(titles) != 1 || titles[0] != "alice's todo" {
		t.Errorf("alice sees %q, want only her own todo", titles)
	}
}

// Migrations reads a schema file, such as the app's schema.sql, so that
// tests run the very migrations the app ships.
func TestExampleMigrationsFromAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "schema.sql")
	if err := os.WriteFile(path, []byte(schema), 0o600); err != nil {
		t.Fatal(err)
	}
	p := tenanttest.New(t, tenant.Config{Migrations: tenanttest.Migrations(t, path)})
	if got := p.SchemaVersion(); got != 1 {
		t.Errorf("schema version %d, want 1", got)
	}
	if _, err := p.Directory().Lookup(context.Background(), "nobody"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("lookup of an unknown name: %v, want ErrNotFound", err)
	}
}
