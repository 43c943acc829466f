package tenant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: tenant %s: file %s is missing", ErrUnavailable, id, path)
		}
		return nil, fmt.Errorf("%w: tenant %s: %w", ErrUnavailable, id, err)
	}
	db, err := openTenantDB(fileDSN(path, "rw", p.cfg.Durable) + fmt.Sprintf("&_pragma=cache_size(%d)", cachePages))
	if err != nil {
		return nil, fmt.Errorf("open tenant %s: %w", id, err)
	}
	db.SetMaxOpenConns(connsPerTenant)
	db.SetMaxIdleConns(connsPerTenant)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// openTenant opens tenant id's file for the pool, migrating it if needed.
func (p *Pool) openTenant(ctx context.Context, id string) (*sqlx.DB, error) {
	start := time.Now()
	t, err := p.directory.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.State == StateProvisioning {
		return nil, ErrNotFound
	}
	db, err := p.openFile(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := p.upgrade(ctx, t, db); err != nil {
		db.Close()
		return nil, err
	}
	if p.cfg.OnOpen != nil {
		p.cfg.OnOpen(time.Since(start))
	}
	return db, nil
}

// upgrade applies t's missing migrations to db and records the outcome in
// the directory. It writes nothing when the file is already current.
func (p *Pool) upgrade(ctx context.Context, t Tenant, db *sqlx.DB) (from int, err error) {
	from, to, err := migrate(ctx, t.ID, db, p.cfg.Migrations)
	if err != nil {
		var me *MigrationError
		if errors.As(err, &me) {
			p.migrateFail.Add(1)
			if rerr := p.directory.setState(ctx, t.ID, StateFailed, to, err.Error()); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return from, fmt.Errorf("%w: %w", ErrUnavailable, classify(err))
	}
	if from != to {
		p.migrated.Add(1)
	}
	if t.State != StateActive || t.SchemaVersion != to || t.Error != "" {
		if err := p.directory.setState(ctx, t.ID, StateActive, to, ""); err != nil {
			return from, err
		}
	}
	return from, nil
}
