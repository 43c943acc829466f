package tenant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Per-tenant handles are small: one user rarely runs two queries at once,
// and each connection costs memory and three file descriptors.
const (
	connsPerTenant = 1
	cachePages     = -512 // KiB of page cache per connection
)

// openFile opens an existing tenant file; it never creates one.
func (p *Pool) openFile(ctx context.Context, id string) (*sqlx.DB, error) {
	path := p.tenantPath(id)
	if _, err := os.Stat(path); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: tenant %s: %w", ErrUnavailable, id, err)
		}
		if rerr := p.restoreFile(ctx, id, path); rerr != nil {
			if errors.Is(rerr, ErrNoReplica) {
				return nil, fmt.Errorf("%w: tenant %s: file %s is missing", ErrUnavailable, id, path)
			}
			return nil, fmt.Errorf("%w: tenant %s: file %s is missing and its restore failed: %w", ErrUnavailable, id, path, rerr)
		}
	}
	db, err := openTenantDB(fileDSN(path, "rw", p.cfg.Durable) + fmt.Sprintf("&_pragma=cache_size(%d)", cachePages))
	if err != nil {
		return nil, fmt.Errorf("open tenant %s: %w", id, err)
	}
	keepConnections(db, connsPerTenant)
	if err := ensureWAL(ctx, db, path); err != nil {
		db.Close()
		if errors.Is(err, ErrBusy) {
			return nil, fmt.Errorf("tenant %s: %w", id, err)
		}
		return nil, fmt.Errorf("%w: tenant %s: %w", ErrUnavailable, id, err)
	}
	return db, nil
}

// keepConnections has db hold up to n connections open for as long as db
// is open: a tenant connection costs a schema read to open.
func keepConnections(db *sqlx.DB, n int) {
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
}

// ensureWAL puts a tenant file in WAL mode unless it is already: a new
// file, or one restored from a VACUUM INTO copy, is in rollback mode.
// Tenant connections keep their WAL file when they close (PERSIST_WAL), so
// a -wal file beside the database says it is in WAL mode for the price of
// a stat, where asking SQLite (PRAGMA journal_mode) on every open added
// about a tenth to the cost of a pool miss.
func ensureWAL(ctx context.Context, db *sqlx.DB, path string) error {
	if _, err := os.Stat(path + "-wal"); err == nil {
		return nil
	}
	var mode string
	if err := db.GetContext(ctx, &mode, "PRAGMA journal_mode = WAL"); err != nil {
		return fmt.Errorf("set WAL mode: %w", classify(err))
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("set WAL mode: the file stayed in %s mode", mode)
	}
	return nil
}

// openTenant opens tenant id's file for the pool, migrating it if needed,
// and returns what was at its path once SQLite had it open (see CheckFiles).
func (p *Pool) openTenant(ctx context.Context, id string) (*sqlx.DB, os.FileInfo, error) {
	start := time.Now()
	t, err := p.directory.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if t.State == StateProvisioning {
		return nil, nil, ErrNotFound
	}
	db, err := p.openFile(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if _, err := p.upgrade(ctx, t, db); err != nil {
		db.Close()
		return nil, nil, err
	}
	if err := p.verify(ctx, db, t); err != nil {
		db.Close()
		return nil, nil, err
	}
	// The migration check has made SQLite open the file, so this is the
	// file the handle writes to.
	file, err := os.Stat(p.tenantPath(id))
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("%w: tenant %s: %w", ErrUnavailable, id, err)
	}
	if p.cfg.OnOpen != nil {
		p.cfg.OnOpen(time.Since(start))
	}
	return db, file, nil
}

// verify asks Config.Verify whether the file open in db is t's.
func (p *Pool) verify(ctx context.Context, db *sqlx.DB, t Tenant) error {
	if p.cfg.Verify == nil {
		return nil
	}
	err := classify(p.cfg.Verify(ctx, db, t))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrBusy), errors.Is(err, ErrFull):
		return fmt.Errorf("tenant %s: verify its file: %w", t.ID, err)
	}
	p.cfg.Logger.Warn("refused a tenant file that is not its tenant's", "tenant", t.ID, "err", err)
	return fmt.Errorf("%w: tenant %s: its file is not its own: %w", ErrUnavailable, t.ID, err)
}

// upgrade applies t's missing migrations to db and records the outcome in
// the directory. It writes nothing when the file is already current.
func (p *Pool) upgrade(ctx context.Context, t Tenant, db *sqlx.DB) (from int, err error) {
	from, to, err := migrate(ctx, t.ID, db, p.cfg.Migrations)
	if err := classify(err); errors.Is(err, ErrBusy) {
		return from, err // not the file's fault: no failed state, no ErrUnavailable
	}
	if err != nil {
		var me *MigrationError
		if errors.As(err, &me) {
			p.migrateFail.Add(1)
			if rerr := p.directory.SetState(ctx, t.ID, StateFailed, to, err.Error()); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return from, fmt.Errorf("%w: %w", ErrUnavailable, classify(err))
	}
	if from != to {
		p.migrated.Add(1)
	}
	if t.State != StateActive || t.SchemaVersion != to || t.Error != "" {
		if err := p.directory.SetState(ctx, t.ID, StateActive, to, ""); err != nil {
			return from, err
		}
	}
	return from, nil
}
