package tenant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jmoiron/sqlx"
)

// RoutingFile is the name of the routing directory's file (the
// [Directory]) inside a data directory.
const RoutingFile = "routing.db"

// tenantRel is tenant id's database file relative to a data directory,
// slash-separated: tenants/<first two hex>/<id>.db. id must be valid.
func tenantRel(id string) string { return "tenants/" + id[:2] + "/" + id + ".db" }

// tenantFile is tenant id's database file under the data directory dir.
func tenantFile(dir, id string) string {
	return filepath.Join(dir, filepath.FromSlash(tenantRel(id)))
}

// readOnlyDSN opens a database only to read it. A mode=ro connection never
// changes the database or its WAL, so it can run beside a live server (WAL
// lets readers and the writer go on at once); like any WAL reader it may
// create or update the -shm index, which holds no data.
func readOnlyDSN(path string) string {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	return "file:" + escapePath(path) + "?" + q.Encode()
}

// openReadOnly opens an existing database file to read, on one connection.
// A missing file is an error wrapping fs.ErrNotExist.
func openReadOnly(path string) (*sqlx.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := sqlx.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// openSingleFile opens a copy (a snapshot, a backup's routing.db) to edit
// it on one connection, keeping it a single file: rollback journal, no WAL.
func openSingleFile(path string) (*sqlx.DB, error) {
	db, err := sqlx.Open("sqlite", "file:"+escapePath(path)+"?mode=rw&_txlock=immediate&_pragma=journal_mode(DELETE)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// openRouting opens dataDir's routing.db read-only, as a Directory.
func openRouting(dataDir string) (*Directory, error) {
	path := filepath.Join(dataDir, RoutingFile)
	db, err := openReadOnly(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open routing db: no %s in %s (is the data folder right?): %w", RoutingFile, dataDir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open routing db: %w", err)
	}
	return &Directory{db: db, now: time.Now}, nil
}

// OpenDirectoryReadOnly opens the existing routing database at path only
// to read it, for commands that run beside a live server (listing users,
// say). Unlike OpenDirectory it never creates the file; writes through it
// fail.
func OpenDirectoryReadOnly(ctx context.Context, path string) (*Directory, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return nil, fmt.Errorf("open routing db: %w", err)
	}
	var n int
	if err := db.GetContext(ctx, &n, "SELECT count(*) FROM (SELECT 1 FROM tenants LIMIT 1)"); err != nil {
		db.Close()
		return nil, fmt.Errorf("open routing db: %s is not a routing database: %w", path, err)
	}
	return &Directory{db: db, now: time.Now}, nil
}

// TenantSize is the size on disk of tenant id's file plus its WAL, under
// the data directory dataDir (what GET /me reports as size_bytes). It only
// stats files, so listing many tenants stays cheap and it runs beside a live
// server. An id that cannot be a tenant's is ErrNotFound; a missing file is
// an error wrapping fs.ErrNotExist.
func TenantSize(dataDir, id string) (int64, error) {
	if !validID(id) {
		return 0, ErrNotFound
	}
	n, err := fileSize(tenantFile(dataDir, id))
	if err != nil {
		return 0, fmt.Errorf("size of tenant %s: %w", id, err)
	}
	return n, nil
}

// listTenantFiles lists the files under root (a data directory's tenants/)
// by the tenant id their name carries; names that are no tenant id's are
// under "". A missing root holds nothing.
func listTenantFiles(root string) (map[string][]string, error) {
	out := make(map[string][]string)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		id := tenantIDOf(d.Name())
		out[id] = append(out[id], path)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk tenant files: %w", err)
	}
	return out, nil
}
