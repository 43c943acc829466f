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
	key, st, err := r.stampFor(ctx, id)
	if err == nil {
		err = r.attach(ctx, id, path, key, r.onUpload(id, st))
	}
	r.stats.attaches.Add(1)
	if err != nil {
		r.stats.attachFails.Add(1)
		return fmt.Errorf("replicate tenant %s: %w", id, err)
	}
	return nil
}

// attachRouting starts replicating routing.db at path for the whole run.
func (r *Replicator) attachRouting(ctx context.Context, path string) error {
	if err := r.attach(ctx, routingKey, path, r.target.routingPath(), nil); err != nil {
		return fmt.Errorf("replicate routing.db: %w", err)
	}
	return nil
}

func (r *Replicator) attach(ctx context.Context, name, path, key string, uploaded func()) error {
	if err := r.awaitDetach(ctx, name); err != nil {
		return err
	}
	a, err := r.open(ctx, name, path, key, uploaded)
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

// open registers the database at path with the store, replicating to key;
// uploaded, if not nil, is called after each successful upload.
func (r *Replicator) open(ctx context.Context, name, path, key string, uploaded func()) (*attachment, error) {
	if err := prepareFile(ctx, path); err != nil {
		return nil, err
	}
	c, err := r.clients.get(ctx, key)
	if err != nil {
		return nil, err
	}
	db := litestream.NewDB(path)
	db.SetMetaPath(metaDir(r.cfg.Dir, name))
	cc := newCountingClient(c, r.stats)
	cc.uploaded = uploaded
	db.Replica = litestream.NewReplicaWithClient(db, cc)
	db.MonitorInterval = r.cfg.SyncInterval // how often it looks at the WAL
	db.Replica.SyncInterval = r.cfg.SyncInterval
	if err := r.store.RegisterDB(db); err != nil {
		r.clients.put(c)
		return nil, err
	}
	return &attachment{id: name, db: db, client: cc}, nil
}

// detachment is a detach (or a backlog shipment) in flight.
type detachment struct {
	done  chan struct{}      // closed when it is over
	abort context.CancelFunc // ends its final sync at once
}

// awaitDetach ends name's detach in flight, if any, without waiting for
// its final sync (what it had not uploaded stays in the local state, which
// the next attachment ships), and waits until it is over: an S3 that is
// slow or down never makes a reopen wait.
func (r *Replicator) awaitDetach(ctx context.Context, name string) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errClosed
	}
	dt := r.detaching[name]
	r.mu.Unlock()
	if dt == nil {
		return nil
	}
	dt.abort()
	select {
	case <-dt.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// beginDetach records that name is being detached; the caller runs the
// detach with the context it returns and then calls end.
func (r *Replicator) beginDetach(name string) (ctx context.Context, end func()) {
	ctx, cancel := context.WithCancel(context.Background())
	dt := &detachment{done: make(chan struct{}), abort: cancel}
	r.detaching[name] = dt // r.mu is held
	return ctx, func() {
		cancel()
		r.mu.Lock()
		if r.detaching[name] == dt {
			delete(r.detaching, name)
		}
		r.mu.Unlock()
		close(dt.done)
	}
}

// Detach stops replicating tenant id; the pool calls it after it closed the
// tenant's handle. The final sync runs in the background, bounded by
// DetachTimeout, so that a slow or absent S3 never holds up the request
// that evicted the tenant; a reopen of the tenant cuts it short.
func (r *Replicator) Detach(id, path string) {
	r.mu.Lock()
	a := r.attached[id]
	if a == nil || r.closed {
		r.mu.Unlock()
		return // never attached, or Close detaches it
	}
	delete(r.attached, id)
	ctx, end := r.beginDetach(id)
	sync := !r.held // see hold.go
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer end()
		// Held (sync false), no final sync was meant: nothing to warn of.
		if err := r.detachWith(ctx, a, sync && !r.stats.down.Load()); err != nil && ctx.Err() == nil && sync {
			r.log.Warn("final sync of a closed tenant failed; its last writes ship when S3 answers", "tenant", id, "err", err)
		}
	}()
}

// detachNow closes a's Litestream database (final sync, bounded, unless S3
// failed its last call) and takes back its client.
func (r *Replicator) detachNow(a *attachment) error {
	return r.detachWith(context.Background(), a, !r.stats.down.Load())
}

// detachWith closes a's Litestream database, with a final sync bounded by
// DetachTimeout and by parent, or none without sync, and takes back its
// client. A tenant whose final sync did not happen, unless parent was
// cancelled (a reopen or a deletion took over), is remembered as behind.
func (r *Replicator) detachWith(parent context.Context, a *attachment, sync bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.detached = true
	ctx, cancel := context.WithTimeout(parent, r.cfg.DetachTimeout)
	defer cancel()
	if !sync {
		// S3 failed its last call: stop at once. What was not uploaded stays
		// in the local state and ships when S3 is back (see catchup.go).
		cancel()
	}
	// A database Litestream has not synced yet (its monitor ticks every
	// second) would close without a final sync: sync it first, locally.
	err := a.db.Sync(ctx)
	err = errors.Join(err, r.store.UnregisterDB(ctx, a.db.Path()))
	r.clients.put(a.client.ReplicaClient)
	if err != nil || !sync {
		if parent.Err() == nil {
			r.markBehind(a.id, a.db.Path())
		}
	}
	if err != nil && parent.Err() == nil {
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
