package datadir

import (
	"context"
	"errors"

	"github.com/cubbyhq/cubby/tenant"
)

// ReadOnly is a data directory opened only to read, beside a live server:
// it takes no lock and writes nothing (every file is opened mode=ro).
type ReadOnly struct {
	path          string
	schemaVersion int
	routing       *tenant.Directory // opened by Routing, when first asked
}

// OpenReadOnly opens the existing data directory at path to read. Of o it
// uses only Migrations, to know the newest schema version. routing.db is
// opened when first needed, so that Check can report a damaged one rather
// than refuse to look.
func OpenReadOnly(ctx context.Context, path string, o Options) (*ReadOnly, error) {
	if len(o.Migrations) == 0 {
		return nil, errors.New("open data directory: no migrations")
	}
	if err := requireDataDir(path); err != nil {
		return nil, err
	}
	return &ReadOnly{path: path, schemaVersion: len(o.Migrations)}, nil
}

// Path is the data directory's path, as given to OpenReadOnly.
func (r *ReadOnly) Path() string { return r.path }

// SchemaVersion is the newest schema version of the migrations it was
// opened with.
func (r *ReadOnly) SchemaVersion() int { return r.schemaVersion }

// Routing is routing.db, opened read-only; writes through it fail.
func (r *ReadOnly) Routing(ctx context.Context) (*tenant.Directory, error) {
	if r.routing == nil {
		d, err := tenant.OpenDirectoryReadOnly(ctx, routingPath(r.path))
		if err != nil {
			return nil, err
		}
		r.routing = d
	}
	return r.routing, nil
}

// Check reports on the integrity of routing.db and every tenant file (see
// tenant.Check); SchemaVersion is filled in.
func (r *ReadOnly) Check(ctx context.Context, o tenant.CheckOptions) (tenant.CheckReport, error) {
	o.SchemaVersion = r.schemaVersion
	return tenant.Check(ctx, r.path, o)
}

// Backup snapshots routing.db and every tenant file into out (see
// tenant.Backup); SchemaVersion is filled in.
func (r *ReadOnly) Backup(ctx context.Context, out string, o tenant.BackupOptions) (tenant.Manifest, error) {
	o.SchemaVersion = r.schemaVersion
	return tenant.Backup(ctx, r.path, out, o)
}

// Close closes routing.db if it was opened. It is safe to call twice.
func (r *ReadOnly) Close() error {
	if r.routing == nil {
		return nil
	}
	d := r.routing
	r.routing = nil
	return wrap("close routing db", d.Close())
}
