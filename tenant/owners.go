package tenant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jmoiron/sqlx"
)

// ErrElsewhere means another process (a node of a cluster) owns the
// tenant: the request belongs there. Such errors are *ElsewhereError.
var ErrElsewhere = errors.New("tenant: owned by another node")

// ElsewhereError names the node that owns a tenant this pool may not open.
type ElsewhereError struct {
	// Tenant is the tenant's id.
	Tenant string
	// Node is the owner's id, and Address where it takes requests.
	Node, Address string
}

// Error says who owns the tenant.
func (e *ElsewhereError) Error() string {
	return fmt.Sprintf("tenant %s is owned by node %s (%s)", e.Tenant, e.Node, e.Address)
}

// Unwrap makes the error match ErrElsewhere.
func (e *ElsewhereError) Unwrap() error { return ErrElsewhere }

// Owners decides which of several processes sharing tenants (through a
// replica bucket) may open a tenant's file; package cluster does it with
// etcd leases. A pool without Owners owns every tenant of its data
// directory and does no work for this.
type Owners interface {
	// Claim is called before the pool opens or makes tenant id's file. It
	// returns an *ElsewhereError when another process owns the tenant;
	// otherwise this process owns it until Release, and stale says whether
	// its local copy may be older than the replica (another process has
	// owned the tenant since this one last did), in which case the pool
	// restores the file from the replica.
	Claim(ctx context.Context, id string) (stale bool, err error)
	// Release gives tenant id up once its handle has closed and the
	// Replicator was told to detach it; it waits for the final sync itself
	// (not holding up the caller) and keeps the claim when that failed.
	Release(id string)
}

// ownerPeek is what Owners may also offer: whether another process owns
// tenant id, from what it already knows (no round trip, no claim).
type ownerPeek interface {
	Elsewhere(id string) error
}

// routingPeek is what a Routing may also offer: a username's tenant, from
// what it already holds in memory (no round trip; false if it cannot say).
type routingPeek interface {
	Peek(username string) (Tenant, bool)
}

// Elsewhere returns an *ElsewhereError when the pool knows, from memory
// alone, that another process owns username's tenant; nil otherwise (no
// Owners, a name it would have to look up, an unowned tenant, its own).
// It costs no I/O, so a caller can ask before work that would be wasted if
// the request is then passed to the owner (counting a login attempt that
// the owner counts again).
func (p *Pool) Elsewhere(username string) error {
	pk, ok := p.cfg.Owners.(ownerPeek)
	if !ok {
		return nil
	}
	rp, ok := p.directory.(routingPeek)
	if !ok {
		return nil
	}
	t, ok := rp.Peek(username)
	if !ok {
		return nil
	}
	return pk.Elsewhere(t.ID)
}

// openOwned claims tenant id when the pool has Owners, opens its file and
// starts replicating it; a failure gives the claim back. With Owners, a
// tenant whose replication cannot start is not served: it moves through
// the bucket, and the next owner would restore it without those writes.
func (p *Pool) openOwned(ctx context.Context, id string) (_ *sqlx.DB, _ os.FileInfo, replicated bool, _ error) {
	if err := p.claimTenant(ctx, id); err != nil {
		return nil, nil, false, err
	}
	db, file, err := p.openTenant(ctx, id)
	if err != nil {
		p.releaseTenant(id)
		return nil, nil, false, MarkBusy(err)
	}
	replicated = p.attach(ctx, id)
	if !replicated && p.cfg.Owners != nil {
		p.closeNow(&entry{id: id, db: db, stmts: newStmtCache(db, &p.prepared, &p.stmtsClosed)})
		p.releaseTenant(id)
		return nil, nil, false, fmt.Errorf("%w: tenant %s: replication could not start", ErrUnavailable, id)
	}
	return db, file, replicated, nil
}

// claimTenant claims id for a pool with Owners and, when its local copy
// may be older than its replica, replaces the copy with the replica.
func (p *Pool) claimTenant(ctx context.Context, id string) error {
	o := p.cfg.Owners
	if o == nil {
		return nil
	}
	stale, err := o.Claim(ctx, id)
	if err != nil {
		var ee *ElsewhereError
		if errors.As(err, &ee) {
			return err
		}
		return fmt.Errorf("%w: tenant %s: claim: %w", ErrUnavailable, id, err)
	}
	if stale {
		if err := p.refresh(ctx, id); err != nil {
			o.Release(id)
			return fmt.Errorf("%w: tenant %s: %w", ErrUnavailable, id, err)
		}
	}
	return nil
}

// refresh replaces tenant id's local copy, which another node may have
// outdated, with its replica. Without a replica (a tenant never
// replicated, or no Replicator) the local copy, if any, is kept: it is
// all there is. A missing local copy is left to the open, which restores.
func (p *Pool) refresh(ctx context.Context, id string) error {
	path := p.tenantPath(id)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	r := p.cfg.Replicator
	if r == nil {
		return nil
	}
	tmp := filepath.Join(p.dir, "tmp", "restore-"+id+".db")
	removeFiles(tmp) // a leftover of a crash
	err := r.Restore(ctx, id, tmp)
	if errors.Is(err, ErrNoReplica) {
		p.cfg.Logger.Warn("claimed tenant has no replica: serving the local copy", "tenant", id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore the newest copy: %w", err)
	}
	if err := removeFiles(path); err != nil {
		removeFiles(tmp)
		return fmt.Errorf("remove the older local copy: %w", err)
	}
	if err := p.placeRestored(tmp, path); err != nil {
		removeFiles(tmp)
		return err
	}
	p.cfg.Logger.Info("replaced a claimed tenant's local copy with its replica", "tenant", id)
	return nil
}

// releaseTenant gives id up after its handle closed, if the pool has
// Owners and is not fenced (a fenced node owns nothing any more).
func (p *Pool) releaseTenant(id string) {
	if p.cfg.Owners != nil && p.fenceErr() == nil {
		p.cfg.Owners.Release(id)
	}
}

// Fence makes the pool stop serving at once, until Unfence: every acquire
// and provision from now on fails with ErrUnavailable (wrapping why), idle
// handles close now and handles in use close as they are released. A
// cluster node calls it when it can no longer prove it owns its tenants
// (its lease could not be renewed), before another node may claim them.
func (p *Pool) Fence(why error) {
	p.mu.Lock()
	if p.fenced != nil || p.closed {
		p.mu.Unlock()
		return
	}
	p.fenced = fmt.Errorf("%w: this node stopped serving: %w", ErrUnavailable, why)
	now := p.fenced // a copy: Unfence clears the field under p.mu, readers of fencedNow hold none
	p.fencedNow.Store(&now)
	var toClose []*entry
	for _, e := range p.entries {
		if e.gone != nil {
			continue // Delete closes it
		}
		if e.elem != nil {
			p.lru.Remove(e.elem)
			e.elem = nil
		}
		if e.refs == 0 && e.db != nil {
			toClose = append(toClose, p.retireLocked(e))
		} else {
			delete(p.entries, e.id)
			p.fencedOut[e] = struct{}{} // see Drained
		}
	}
	p.mu.Unlock()
	for _, e := range toClose {
		p.shut(e)
	}
}

// Fenced is why the pool was fenced (an ErrUnavailable), or nil.
func (p *Pool) Fenced() error {
	if e := p.fencedNow.Load(); e != nil {
		return *e
	}
	return nil
}

// fenceErr is why the pool was fenced, or nil.
func (p *Pool) fenceErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fenced
}
