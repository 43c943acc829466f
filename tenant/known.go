package tenant

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jmoiron/sqlx"
)

// A pool remembers, for tenant files it closed recently, which file it
// closed: its identity, size and modification time once closed. Such a
// file, when the pool closed it, was at the newest schema version (the
// pool opens no file without migrating it). So reopening the same,
// unchanged file, when the directory also says it is active at that
// version, needs no PRAGMA user_version: one query less on every miss of
// a tenant that was open before. Anything that changed the file (a copy
// over it, another process writing it, a restore) changes its size or
// modification time or its identity, and the file is asked as usual.
//
// The memory is bounded: past maxKnown(MaxOpen) files an arbitrary one is
// forgotten, which costs only its next open the version query.
func maxKnown(maxOpen int) int { return max(4*maxOpen, 1024) }

// bringUp makes a just-opened handle ready: it migrates the file, or, when
// the file is one the pool closed at the newest version and left unchanged
// (see above), only makes SQLite open it. before is what was at the path
// just before the open.
func (p *Pool) bringUp(ctx context.Context, t Tenant, db *sqlx.DB, before os.FileInfo) error {
	current := t.State == StateActive && t.SchemaVersion == len(p.cfg.Migrations) && t.Error == ""
	if !current || !p.knownUnchanged(t.ID, before) {
		_, err := p.upgrade(ctx, t, db)
		return err
	}
	p.skippedVersion.Add(1)
	if err := db.PingContext(ctx); err != nil {
		err = classify(err)
		if errors.Is(err, ErrBusy) {
			return fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		return fmt.Errorf("%w: tenant %s: open: %w", ErrUnavailable, t.ID, err)
	}
	return nil
}

// knownUnchanged reports whether fi is the file the pool last closed for
// tenant id, unchanged since.
func (p *Pool) knownUnchanged(id string, fi os.FileInfo) bool {
	p.mu.Lock()
	k, ok := p.known[id]
	p.mu.Unlock()
	return ok && sameUnchanged(k, fi)
}

func sameUnchanged(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// remember records the file of e, just closed, if it is still the file
// e opened; otherwise it forgets the tenant's file.
func (p *Pool) remember(e *entry) {
	fi, err := os.Stat(p.tenantPath(e.id))
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.known, e.id)
	if err != nil || e.file == nil || e.lost || !os.SameFile(e.file, fi) || p.closed {
		return
	}
	if len(p.known) >= maxKnown(p.cfg.MaxOpen) {
		for id := range p.known {
			delete(p.known, id)
			break
		}
	}
	p.known[e.id] = fi
}

// forget drops what the pool remembers of tenant id's file.
func (p *Pool) forget(id string) {
	p.mu.Lock()
	delete(p.known, id)
	p.mu.Unlock()
}
