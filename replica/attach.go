package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/benbjohnson/litestream"
)

// errClosed is returned by an attach after Close.
var errClosed = errors.New("replica: closed")

// Attach starts replicating tenant id's file at path; the pool calls it
// once the file is open and migrated. It makes no request to S3: the
// first upload happens in the background. A tenant still being detached
// from an earlier open is waited for first.
func (r *Replicator) Attach(ctx context.Context, id, path string) error {
	err := r.attach(ctx, id, path, r.target.tenantKey(id))
	r.stats.attaches.Add(1)
	if err != nil {
		r.stats.attachFails.Add(1)
		return fmt.Errorf("replicate tenant %s: %w", id, err)
	}
	return nil
}

// attachRouting starts replicating routing.db at path for the whole run.
func (r *Replicator) attachRouting(ctx context.Context, path string) error {
	if err := r.attach(ctx, routingKey, path, r.target.routingPath()); err != nil {
		return fmt.Errorf("replicate routing.db: %w", err)
	}
	return nil
}

func (r *Replicator) attach(ctx context.Context, name, path, key string) error {
	if err := r.awaitDetach(ctx, name); err != nil {
		return err
	}
	a, err := r.open(ctx, name, path, key)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errors.Join(errClosed, r.detachNow(a))
	}
	r.attached[name] = a
	delete(r.behind, name) // its backlog ships now
	r.mu.Unlock()
	return nil
}

// open registers the database at path with the store, replicating to key.
func (r *Replicator) open(ctx context.Context, name, path, key string) (*attachment, error) {
	c, err := r.clients.get(ctx, key)
	if err != nil {
		return nil, err
	}
	db := litestream.NewDB(path)
	db.SetMetaPath(metaDir(r.cfg.Dir, name))
	cc := newCountingClient(c, r.stats)
	db.Replica = litestream.NewReplicaWithClient(db, cc)
	db.Replica.SyncInterval = r.cfg.SyncInterval
	if err := r.store.RegisterDB(db); err != nil {
		r.clients.put(c)
		return nil, err
	}
	return &attachment{id: name, db: db, client: cc}, nil
}

// awaitDetach waits until name's earlier attachment, if any, is detached.
func (r *Replicator) awaitDetach(ctx context.Context, name string) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errClosed
	}
	ch := r.detaching[name]
	r.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Detach stops replicating tenant id; the pool calls it after it closed the
// tenant's handle. The final sync runs in the background, bounded by
// DetachTimeout, so that a slow or absent S3 never holds up the request
// that evicted the tenant; a reopen of the same tenant waits for it.
func (r *Replicator) Detach(id, path string) {
	r.mu.Lock()
	a := r.attached[id]
	if a == nil || r.closed {
		r.mu.Unlock()
		return // never attached, or Close detaches it
	}
	delete(r.attached, id)
	done := make(chan struct{})
	r.detaching[id] = done
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		if err := r.detachNow(a); err != nil {
			r.log.Warn("final sync of a closed tenant failed; its last writes ship at its next open", "tenant", id, "err", err)
		}
		r.mu.Lock()
		delete(r.detaching, id)
		r.mu.Unlock()
		close(done)
	}()
}

// detachNow closes a's Litestream database (final sync, bounded, unless S3
// failed its last call) and takes back its client.
func (r *Replicator) detachNow(a *attachment) error { return r.detachWith(a, !r.stats.down.Load()) }

// detachWith is detachNow; without sync the final sync is skipped.
func (r *Replicator) detachWith(a *attachment, sync bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.detached = true
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.DetachTimeout)
	defer cancel()
	if !sync {
		// S3 failed its last call: stop at once. What was not uploaded stays
		// in the local state and ships when S3 is back (see catchup.go).
		cancel()
		r.markBehind(a.id, a.db.Path())
	}
	// A database Litestream has not synced yet (its monitor ticks every
	// second) would close without a final sync: sync it first, locally.
	err := a.db.Sync(ctx)
	err = errors.Join(err, r.store.UnregisterDB(ctx, a.db.Path()))
	r.clients.put(a.client.ReplicaClient)
	if err != nil {
		r.stats.detachFails.Add(1)
		return fmt.Errorf("detach %s: %w", a.id, err)
	}
	return nil
}

// detachRouting stops replicating routing.db, after its handle closed.
func (r *Replicator) detachRouting() error {
	r.mu.Lock()
	a := r.attached[routingKey]
	delete(r.attached, routingKey)
	r.mu.Unlock()
	if a == nil {
		return nil
	}
	return r.detachNow(a)
}
