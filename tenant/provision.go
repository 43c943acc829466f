package tenant

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// InitFunc writes a new tenant's first rows, in one transaction on its own
// file, after every migration has run.
type InitFunc func(ctx context.Context, tx *sqlx.Tx, t Tenant) error

// Provision makes a new tenant for username: it inserts the routing row as
// provisioning, creates the file, applies every migration, runs init, and
// marks the row active. On any failure it removes the file and the row. If
// the username is taken (in any letter case) it returns ErrExists; of many
// concurrent provisions of one name exactly one succeeds. A closed pool
// provisions nothing (ErrClosed). If init panics, the tenant is removed
// as on a failure and the panic goes on. If ctx ends before the tenant is
// made, nothing of it is left and the error wraps ctx's.
func (p *Pool) Provision(ctx context.Context, username string, init InitFunc) (Tenant, error) {
	t, err := p.provision(ctx, username, init)
	if err != nil {
		if errors.Is(err, ErrExists) {
			return Tenant{}, err
		}
		p.provisionFail.Add(1)
		return Tenant{}, MarkBusy(stoppedBy(ctx, err))
	}
	p.provisioned.Add(1)
	return t, nil
}

func (p *Pool) provision(ctx context.Context, username string, init InitFunc) (_ Tenant, err error) {
	if username == "" {
		return Tenant{}, errors.New("tenant: empty username")
	}
	if err := p.step("insert"); err != nil {
		return Tenant{}, err
	}
	if err := p.beginProvision(); err != nil {
		return Tenant{}, err
	}
	defer p.endProvision()
	t, err := p.directory.Create(ctx, newID(), username)
	if err != nil {
		return Tenant{}, err
	}
	path := p.tenantPath(t.ID)
	claimErr := p.claimTenant(ctx, t.ID) // a new id: nobody else can hold it
	finished := false
	defer func() {
		// An init that panics (net/http recovers a handler's panic) or
		// exits its goroutine (t.Fatal in a test) must not leave the row
		// provisioning, which would hold the name until the next Recover:
		// cleaned up here while the panic goes on, its stack intact.
		if !finished {
			err = fmt.Errorf("tenant: provision %s stopped midway (init panicked or exited)", t.ID)
		}
		if err != nil {
			// Clean up even when ctx is what failed.
			cctx := context.WithoutCancel(ctx)
			err = errors.Join(err, removeFiles(path), p.directory.Remove(cctx, t.ID))
		}
		if claimErr == nil {
			p.releaseTenant(t.ID) // after the first sync, which replicateNew began
		}
	}()
	if claimErr != nil {
		finished = true
		return Tenant{}, claimErr
	}
	built, err := p.build(ctx, t, path, init) // t stays: the cleanup needs its id
	finished = true
	return built, err
}

// stoppedBy makes err, a failure met after ctx ended, wrap ctx's error:
// what fails then (a transaction database/sql rolled back for the ended
// context, "transaction has already been committed or rolled back") is
// the end's effect, and a caller asks errors.Is(err, context.Canceled).
func stoppedBy(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w: %w", cerr, err)
}

// build makes provisioning tenant t's file at path, fills it and marks
// the row active; provision cleans up if it fails.
func (p *Pool) build(ctx context.Context, t Tenant, path string, init InitFunc) (Tenant, error) {
	if err := p.step("create"); err != nil {
		return Tenant{}, err
	}
	if err := createFile(path); err != nil {
		return Tenant{}, err
	}
	version, err := p.fill(ctx, t, init)
	if err != nil {
		return Tenant{}, err
	}
	if err := p.step("activate"); err != nil {
		return Tenant{}, err
	}
	if err := p.directory.SetState(ctx, t.ID, StateActive, version, ""); err != nil {
		return Tenant{}, err
	}
	t.State, t.SchemaVersion = StateActive, version
	p.replicateNew(ctx, t.ID)
	return t, nil
}

// fill migrates a new tenant file and runs init on it, then closes it.
func (p *Pool) fill(ctx context.Context, t Tenant, init InitFunc) (version int, err error) {
	db, err := p.openFile(ctx, t.ID)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close new tenant file: %w", cerr)
		}
	}()
	if err := p.step("migrate"); err != nil {
		return 0, err
	}
	if _, version, err = migrate(ctx, t.ID, db, p.cfg.Migrations); err != nil {
		return 0, err
	}
	if init == nil {
		return version, nil
	}
	if err := p.step("init"); err != nil {
		return 0, err
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin init: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := init(ctx, tx, t); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit init: %w", err)
	}
	return version, nil
}

// step lets tests inject a failure before a named step.
func (p *Pool) step(name string) error {
	if p.hook == nil {
		return nil
	}
	return p.hook(name)
}

// Delete removes a tenant: it waits for everyone holding its handle to
// release it, closes it, deletes the routing row (the username is free from
// then on) and removes the files. New acquires fail with ErrNotFound as
// soon as Delete starts. If ctx ends while Delete waits for holders, it
// gives up and returns ctx's error, leaving the tenant exactly as it was
// (row, file and open handle) and servable again, and if the pool closes
// meanwhile it gives up the same way with ErrClosed; once the holders are
// gone it finishes regardless of ctx, so nothing is ever half deleted
// (Close waits for it).
func (p *Pool) Delete(ctx context.Context, id string) error {
	if err := p.delete(ctx, id); err != nil {
		if !errors.Is(err, ErrNotFound) {
			p.deleteFail.Add(1)
		}
		return err
	}
	p.deleted.Add(1)
	return nil
}

func (p *Pool) delete(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	if err := p.beginOp(); err != nil {
		return err
	}
	defer p.ops.Done()
	t, err := p.directory.Get(ctx, id)
	if err != nil {
		return err
	}
	if t.State == StateProvisioning {
		return ErrNotFound // not made yet: its Provision owns it
	}
	if err := p.claimTenant(ctx, id); err != nil {
		return err
	}
	e, err := p.claim(id)
	if err != nil {
		return err
	}
	p.forgetKept(id) // no Store answers from it from now on
	defer func() {
		p.mu.Lock()
		if p.entries[id] == e && e.gone != nil { // not handed back
			delete(p.entries, id)
			delete(p.opened, id)
		}
		p.mu.Unlock()
	}()
	if err := p.awaitHolders(ctx, e); err != nil {
		return err
	}
	<-e.ready
	if e.db != nil {
		p.closeNow(e)
	}
	// Closed here and about to be deleted: no other node may reopen it
	// from the replica meanwhile, so the claim ends once it is gone.
	defer p.releaseTenant(id)
	ctx = context.WithoutCancel(ctx) // the handle is closed: finish the job
	// Row first: a crash between the two leaves a file without a row, which
	// Recover moves to orphans/ rather than losing.
	if err := p.directory.Remove(ctx, id); err != nil {
		return err
	}
	// The replica before the files: its detach, in flight since the handle
	// closed, still finds the file for its final sync.
	p.removeReplica(ctx, id)
	if err := removeFiles(p.tenantPath(id)); err != nil {
		return fmt.Errorf("remove tenant files: %w", err)
	}
	return nil
}

// beginOp counts a call Close must wait for (see Pool.ops), unless the
// pool is closed; the caller calls p.ops.Done when it returns.
func (p *Pool) beginOp() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.ops.Add(1)
	return nil
}

// awaitHolders waits until no one holds e, which claim marked as being
// deleted. If ctx ends, or the pool closes, first it hands e back to the
// pool as it was and returns ctx's error, or ErrClosed: Close waits for
// Delete, and a holder may hold on past it.
func (p *Pool) awaitHolders(ctx context.Context, e *entry) error {
	select {
	case <-e.gone: // closed by the last release, or by claim when no one held it
		return nil
	default:
	}
	select {
	case <-e.gone:
		return nil
	case <-ctx.Done():
		p.unclaim(e)
		return fmt.Errorf("delete tenant %s: wait for its holders: %w", e.id, ctx.Err())
	case <-p.stop:
		p.unclaim(e)
		return fmt.Errorf("delete tenant %s: the pool closed while it waited for its holders: %w", e.id, ErrClosed)
	}
}

// unclaim undoes claim: e serves acquires again, or, if no one holds it
// and it has no open handle (or the pool closed meanwhile), it goes.
func (p *Pool) unclaim(e *entry) {
	p.mu.Lock()
	e.gone = nil
	var toClose []*entry
	switch {
	case p.entries[e.id] != e: // the pool closed meanwhile
		if e.refs == 0 && e.db != nil {
			toClose = append(toClose, p.retireLocked(e))
		}
	case e.db == nil && e.refs == 0:
		p.dropLocked(e)
	default:
		e.elem = p.lru.PushFront(e)
		toClose = p.evictLocked()
	}
	p.mu.Unlock()
	p.closeAsync(toClose)
}

// claim marks tenant id as being deleted, so that no one new acquires it,
// and returns its entry; e.gone closes once no one holds it.
func (p *Pool) claim(id string) (*entry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	e, ok := p.entries[id]
	if ok && e.gone != nil {
		return nil, ErrNotFound // another Delete is under way
	}
	if !ok {
		e = &entry{id: id, ready: make(chan struct{})}
		close(e.ready)
		p.entries[id] = e
	}
	if e.elem != nil {
		p.lru.Remove(e.elem)
		e.elem = nil
	}
	e.gone = make(chan struct{})
	if e.refs == 0 {
		close(e.gone)
	}
	return e, nil
}
