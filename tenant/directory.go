package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// State is where a tenant is in its life.
type State string

// The states a tenant row can be in.
const (
	// StateProvisioning: the row exists, its file is being made.
	StateProvisioning State = "provisioning"
	// StateActive: the file is made and migrated.
	StateActive State = "active"
	// StateFailed: the last migration failed; retried at the next open.
	StateFailed State = "failed"
)

// Tenant is one row of the routing directory.
type Tenant struct {
	ID            string    `db:"id"`
	Username      string    `db:"username"`
	State         State     `db:"state"`
	SchemaVersion int       `db:"schema_version"`
	Error         string    `db:"error"`
	CreatedAt     time.Time `db:"created_at"`
	UpdatedAt     time.Time `db:"updated_at"`
}

// Directory is routing.db: the map from username to tenant id.
type Directory struct {
	db  *sqlx.DB
	now func() time.Time
	// file is routing.db as opened, for a Directory that writes (see
	// routingFile); nil for the read-only ones.
	file *routingFile
	// rows caches lookups by id for a Directory that writes (nil for the
	// read-only ones, which others write under them).
	rows *rowCache
}

const directorySchema = `
CREATE TABLE IF NOT EXISTS tenants (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    state          TEXT NOT NULL CHECK (state IN ('provisioning', 'active', 'failed')),
    schema_version INTEGER NOT NULL DEFAULT 0,
    error          TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS tenants_state ON tenants (state) WHERE state != 'active';
-- For counting the tenants a migration is pending for (CountBehind) without
-- reading every row; written only when a tenant is made, migrated or deleted.
CREATE INDEX IF NOT EXISTS tenants_version ON tenants (schema_version);
`

// DirectoryOption changes how OpenDirectory opens routing.db.
type DirectoryOption func(*directoryOptions)

type directoryOptions struct{ durable bool }

// DurableDirectory makes every commit to routing.db wait for the disk
// (synchronous=FULL), as Config.Durable does for tenant files: a power cut
// then loses no signup or deletion that was acknowledged.
func DurableDirectory() DirectoryOption {
	return func(o *directoryOptions) { o.durable = true }
}

// OpenDirectory opens (creating if needed) the routing database at path.
// A new file is made 0600 before SQLite touches it, so that it, and the
// -wal and -shm files SQLite gives the same mode, are the owner's alone.
func OpenDirectory(ctx context.Context, path string, opts ...DirectoryOption) (*Directory, error) {
	var o directoryOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := refuseToStartOver(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create routing db: %w", err)
	}
	info, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("create routing db: %w", err)
	}
	// Opened "rw", never "rwc": the file is made above, and a connection
	// opened later must not make another (see routingFile).
	file := &routingFile{path: path, info: info}
	db := sqlx.NewDb(sql.OpenDB(&routingConnector{
		dsn:  fileDSN(path, "rw", o.durable) + "&_pragma=journal_mode(WAL)",
		file: file,
	}), "sqlite")
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	if _, err := db.ExecContext(ctx, directorySchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create routing schema: %w", err)
	}
	return &Directory{db: db, now: time.Now, rows: newRowCache(), file: file}, nil
}

// refuseToStartOver refuses to make a new routing.db where one is missing
// or empty (0 bytes, as SQLite would take for a new database) while the
// tenants/ folder beside it holds tenant files: that directory lost its
// routing.db (removed, truncated) and is not a new one. Starting over
// would leave every user without an account and free their names for
// anyone to take, and the start's sweep would move all their files to
// orphans/.
func refuseToStartOver(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.Size() > 0:
		return nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open routing db: %w", err)
	}
	what := "empty"
	if err != nil {
		what = "missing"
	}
	files, err := listTenantFiles(filepath.Join(filepath.Dir(path), "tenants"))
	if err != nil {
		return fmt.Errorf("open routing db: %w", err)
	}
	n := 0
	for id := range files {
		if id != "" {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s is %s, but the tenants folder beside it holds the files of %d tenant(s); "+
		"restore routing.db from a backup (cubby restore) instead of starting over, "+
		"or move the tenants folder aside to start an empty data directory", ErrRoutingLost, path, what, n)
}

// DB returns routing.db's handle, for callers that keep their own tables
// beside the directory (sessions, for one). Do not close it.
func (d *Directory) DB() *sql.DB { return d.db.DB }

// Close closes routing.db. It is safe to call twice.
func (d *Directory) Close() error {
	if err := d.db.Close(); err != nil && !errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("close routing db: %w", err)
	}
	return nil
}

// Ping checks that routing.db answers a query.
func (d *Directory) Ping(ctx context.Context) error {
	if err := d.file.check(); err != nil {
		return err
	}
	var one int
	return d.db.GetContext(ctx, &one, "SELECT 1 FROM sqlite_schema LIMIT 1")
}

const tenantColumns = "id, username, state, schema_version, error, created_at, updated_at"

// Lookup finds a tenant by username, ignoring letter case.
func (d *Directory) Lookup(ctx context.Context, username string) (Tenant, error) {
	return d.get(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE username = ?", strings.ToLower(username))
}

// Get finds a tenant by id.
func (d *Directory) Get(ctx context.Context, id string) (Tenant, error) {
	if d.rows == nil {
		return d.get(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE id = ?", id)
	}
	t, gen, ok := d.rows.find(id)
	if ok {
		return t, nil
	}
	t, err := d.get(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE id = ?", id)
	if err == nil {
		d.rows.keep(t, gen)
	}
	return t, err
}

// written drops id's row from the cache after a write to it.
func (d *Directory) written(id string) {
	if d.rows != nil {
		d.rows.drop(id)
	}
}

func (d *Directory) get(ctx context.Context, query, arg string) (Tenant, error) {
	var t Tenant
	err := d.db.GetContext(ctx, &t, query, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, ErrNotFound
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("look up tenant: %w", routingBusy(err))
	}
	return t, nil
}

// List returns up to limit tenants ordered by username, starting after the
// username after ("" for the first page).
func (d *Directory) List(ctx context.Context, after string, limit int) ([]Tenant, error) {
	var ts []Tenant
	err := d.db.SelectContext(ctx, &ts,
		"SELECT "+tenantColumns+" FROM tenants WHERE username > ? ORDER BY username LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ts, nil
}

// Count returns how many tenants the directory holds, in any state.
func (d *Directory) Count(ctx context.Context) (int, error) {
	var n int
	if err := d.db.GetContext(ctx, &n, "SELECT count(*) FROM tenants"); err != nil {
		return 0, fmt.Errorf("count tenants: %w", err)
	}
	return n, nil
}

func (d *Directory) listState(ctx context.Context, s State) ([]Tenant, error) {
	var ts []Tenant
	err := d.db.SelectContext(ctx, &ts, "SELECT "+tenantColumns+" FROM tenants WHERE state = ?", s)
	if err != nil {
		return nil, fmt.Errorf("list %s tenants: %w", s, err)
	}
	return ts, nil
}

// idsWithPrefix returns the set of tenant ids that start with prefix (a
// tenants/ folder name).
func (d *Directory) idsWithPrefix(ctx context.Context, prefix string) (map[string]bool, error) {
	var ids []string
	err := d.db.SelectContext(ctx, &ids,
		"SELECT id FROM tenants WHERE id >= ? AND id < ?", prefix, prefix+"~") // "~" sorts after every hex digit
	if err != nil {
		return nil, fmt.Errorf("list tenant ids: %w", err)
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set, nil
}

// create inserts a provisioning row; a taken username is ErrExists.
func (d *Directory) create(ctx context.Context, id, username string) (Tenant, error) {
	if err := d.file.check(); err != nil {
		return Tenant{}, err
	}
	now := d.now().UTC()
	t := Tenant{ID: id, Username: strings.ToLower(username), State: StateProvisioning, CreatedAt: now, UpdatedAt: now}
	_, err := d.db.ExecContext(ctx,
		"INSERT INTO tenants (id, username, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
		t.ID, t.Username, t.State, now, now)
	d.written(id)
	if isUniqueViolation(err) {
		return Tenant{}, ErrExists
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("insert tenant: %w", routingBusy(err))
	}
	return t, nil
}

// setState records a tenant's state, schema version and last error.
func (d *Directory) setState(ctx context.Context, id string, s State, version int, msg string) error {
	if err := d.file.check(); err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx,
		"UPDATE tenants SET state = ?, schema_version = ?, error = ?, updated_at = ? WHERE id = ?",
		s, version, msg, d.now().UTC(), id)
	d.written(id)
	if err != nil {
		return fmt.Errorf("set tenant %s %s: %w", id, s, routingBusy(err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("set tenant %s %s: %w", id, s, ErrNotFound)
	}
	return nil
}

func (d *Directory) remove(ctx context.Context, id string) error {
	if err := d.file.check(); err != nil {
		return err
	}
	_, err := d.db.ExecContext(ctx, "DELETE FROM tenants WHERE id = ?", id)
	d.written(id)
	if err != nil {
		return fmt.Errorf("delete tenant row: %w", routingBusy(err))
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) &&
		(se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}
