package tenant_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/jmoiron/sqlx"

	"github.com/cubbyhq/cubby/tenant"
)

// bookmarksSchema is an application's own per-tenant schema: the package
// knows nothing of it. Each "-- migration: N" block runs once per file, in
// order, in its own transaction; append blocks, never edit shipped ones.
const bookmarksSchema = `
-- migration: 1
CREATE TABLE bookmarks (
    id  INTEGER PRIMARY KEY,
    url TEXT NOT NULL
);

-- migration: 2
ALTER TABLE bookmarks ADD COLUMN title TEXT NOT NULL DEFAULT '';
`

// openBookmarks opens a data directory for the bookmarks app: the routing
// directory (routing.db) and a pool of per-tenant files with the app's
// schema. The caller closes the pool, then the directory.
func openBookmarks(ctx context.Context, dir string) (*tenant.Directory, *tenant.Pool, error) {
	ms, err := tenant.ParseMigrations(bookmarksSchema)
	if err != nil {
		return nil, nil, fmt.Errorf("parse schema: %w", err)
	}
	d, err := tenant.OpenDirectory(ctx, filepath.Join(dir, tenant.RoutingFile))
	if err != nil {
		return nil, nil, err
	}
	p, err := tenant.NewPool(d, tenant.Config{Dir: dir, Migrations: ms, MaxOpen: 64})
	if err != nil {
		return nil, nil, errors.Join(err, d.Close())
	}
	return d, p, nil
}

// Open a data directory with your own schema, provision a tenant, and
// query its file through the Store the pool hands out.
func Example() {
	dir, err := os.MkdirTemp("", "bookmarks-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	if err := bookmarks(context.Background(), dir); err != nil {
		log.Fatal(err)
	}
	// Output:
	// alice has schema version 2
	// https://go.dev/ (Go)
	// https://sqlite.org/ (SQLite)
}

func bookmarks(ctx context.Context, dir string) (err error) {
	d, p, err := openBookmarks(ctx, dir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close(), d.Close()) }()

	// Provision makes the routing row and the file, applies every
	// migration, and runs the init function in one transaction on the new
	// file, all or nothing. A taken name (in any letter case) is ErrExists.
	_, err = p.Provision(ctx, "alice", func(ctx context.Context, tx *sqlx.Tx, t tenant.Tenant) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO bookmarks (url, title) VALUES (?, ?)", "https://go.dev/", "Go")
		return err
	})
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}

	// Later, in a request: find the tenant by name, acquire its Store,
	// release it when done. The Store reaches this tenant's file only.
	t, err := d.Lookup(ctx, "Alice")
	if err != nil {
		return fmt.Errorf("look up: %w", err)
	}
	fmt.Printf("%s has schema version %d\n", t.Username, t.SchemaVersion)
	s, release, err := p.Acquire(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer release()

	if _, err := s.ExecContext(ctx, "INSERT INTO bookmarks (url, title) VALUES (?, ?)", "https://sqlite.org/", "SQLite"); err != nil {
		return fmt.Errorf("add bookmark: %w", err)
	}
	var rows []struct {
		URL   string `db:"url"`
		Title string `db:"title"`
	}
	if err := s.SelectContext(ctx, &rows, "SELECT url, title FROM bookmarks ORDER BY id"); err != nil {
		return fmt.Errorf("list bookmarks: %w", err)
	}
	for _, r := range rows {
		fmt.Printf("%s (%s)\n", r.URL, r.Title)
	}
	return nil
}

// Tenants are separate files: what one writes, another never sees, and a
// name can be taken once.
func ExamplePool_Provision() {
	dir, err := os.MkdirTemp("", "bookmarks-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	d, p, err := openBookmarks(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	defer p.Close()

	for _, name := range []string{"alice", "bob"} {
		t, err := p.Provision(ctx, name, nil) // nil: no first rows
		if err != nil {
			log.Fatal(err)
		}
		s, release, err := p.Acquire(ctx, t.ID)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := s.ExecContext(ctx, "INSERT INTO bookmarks (url) VALUES (?)", "https://example.com/"+name); err != nil {
			log.Fatal(err)
		}
		var urls []string
		if err := s.SelectContext(ctx, &urls, "SELECT url FROM bookmarks"); err != nil {
			log.Fatal(err)
		}
		release()
		fmt.Println(name, urls)
	}

	_, err = p.Provision(ctx, "ALICE", nil)
	fmt.Println("provision ALICE again:", errors.Is(err, tenant.ErrExists))
	// Output:
	// alice [https://example.com/alice]
	// bob [https://example.com/bob]
	// provision ALICE again: true
}
