package tenant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNoReplica is what a Replicator's Restore returns for a tenant it
// holds no replica of.
var ErrNoReplica = errors.New("tenant: no replica")

// Replicator copies open tenant files somewhere safe (package replica does
// it to S3 with Litestream). The pool calls it at the edges of a handle's
// life only, so a pool without one does no extra work, and replication
// costs follow what is open, not how many tenants there are.
type Replicator interface {
	// Attach starts replicating tenant id's file at path, once it is open
	// and migrated. A failure is logged and the tenant served anyway.
	Attach(ctx context.Context, id, path string) error
	// Detach stops replicating it, after its handle closed. It must not
	// block on the network: the eviction that calls it may be a request's.
	Detach(id, path string)
	// Restore writes the tenant's replicated file to dst, which does not
	// exist; ErrNoReplica when there is none.
	Restore(ctx context.Context, id, dst string) error
	// Remove deletes the tenant's replica, once its routing row is gone and
	// before its files go; it bounds its own wait (S3 may be down).
	Remove(ctx context.Context, id string) error
}

// attach starts replicating e's tenant, if the pool replicates.
func (p *Pool) attach(ctx context.Context, id string) bool {
	r := p.cfg.Replicator
	if r == nil {
		return false
	}
	if err := r.Attach(ctx, id, p.tenantPath(id)); err != nil {
		p.cfg.Logger.Warn("tenant served without replication", "tenant", id, "err", err)
		return false
	}
	return true
}

// replicateNew ships a new tenant's first state: attached and at once
// detached, its final sync (in the background) uploads the file, so that a
// user who signs up and never comes back is not lost with the machine.
func (p *Pool) replicateNew(ctx context.Context, id string) {
	if p.attach(context.WithoutCancel(ctx), id) {
		p.cfg.Replicator.Detach(id, p.tenantPath(id))
	}
}

// detach stops replicating e's tenant after its handle closed.
func (p *Pool) detach(e *entry) {
	if e.replicated {
		e.replicated = false
		p.cfg.Replicator.Detach(e.id, p.tenantPath(e.id))
	}
}

// restoreFile brings back tenant id's missing file from its replica: into
// tmp/ first, made 0600, then renamed into place and its folder synced.
// Without a replicator, or without a replica, the file stays missing.
func (p *Pool) restoreFile(ctx context.Context, id, path string) error {
	r := p.cfg.Replicator
	if r == nil {
		return ErrNoReplica
	}
	tmp := filepath.Join(p.dir, "tmp", "restore-"+id+".db")
	removeFiles(tmp) // a leftover of a crash
	if err := r.Restore(ctx, id, tmp); err != nil {
		return err
	}
	if err := p.placeRestored(tmp, path); err != nil {
		removeFiles(tmp)
		return err
	}
	p.cfg.Logger.Info("restored a missing tenant file from its replica", "tenant", id)
	return nil
}

// placeRestored moves a restored file from tmp to path durably, 0600.
func (p *Pool) placeRestored(tmp, path string) error {
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("make restored file private: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("make tenant folder: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("move restored file into place: %w", err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("sync tenant folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync tenant folder: %w", err)
	}
	return nil
}

// removeReplica deletes a deleted tenant's replica; a failure is logged:
// the tenant is gone here, and its replica holds no routing row.
func (p *Pool) removeReplica(ctx context.Context, id string) {
	if r := p.cfg.Replicator; r != nil {
		if err := r.Remove(ctx, id); err != nil {
			p.cfg.Logger.Error("deleted tenant's replica was not removed; remove it by hand", "tenant", id, "err", err)
		}
	}
}

// FilePath is where tenant id's file lives in the data directory dataDir;
// id must be a tenant id.
func FilePath(dataDir, id string) string { return tenantFile(dataDir, id) }

// CheckRestoreTarget refuses a data directory that is neither missing nor
// empty (a lock file and empty folders are fine), with ErrNotEmpty.
func CheckRestoreTarget(dir string) error { return checkRestoreTarget(dir) }
