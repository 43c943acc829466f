package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// Handoff is what giving a tenant up needs of replication: to know that
// the final sync of the tenant's closed handle reached the bucket
// (replica.Replicator.Handed).
type Handoff interface {
	Handed(ctx context.Context, id string) error
}

// Owners is tenant.Owners for a node: the pool claims each tenant with
// [Node.Claim] before it opens the tenant's file, and gives it up with
// [Node.Release] once the handle is closed and its last writes are in the
// bucket. A claim whose final sync failed is kept: this node holds the only
// copy of those writes, so other nodes keep forwarding to it, and its next
// open of the tenant ships them.
//
// A release waits for the final sync before it deletes the owner key; a
// claim of the tenant meanwhile (the pool reopening it) calls the release
// off and keeps the claim, which never lapsed: the node still owns the
// tenant and its local copy is the newest there is.
type Owners struct {
	n       *Node
	h       Handoff
	log     *slog.Logger
	timeout time.Duration

	mu        sync.Mutex
	held      map[string]Ownership  // claims this node made and holds
	recorded  map[string]int64      // the replica token this node last recorded, by tenant
	releasing map[string]*releasing // releases in flight
	wg        sync.WaitGroup
}

// releasing is a release in flight.
type releasing struct {
	done chan struct{} // closed when the release ends
	// cancel calls the release off; it works until committed is set (under
	// Owners.mu), when the owner key's deletion is sent.
	cancel    context.CancelFunc
	cancelled bool
	committed bool
}

// NewOwners returns the Owners of node n, handing tenants off through h.
// timeout bounds each release (the final sync and the etcd request); 15 s
// when zero.
func NewOwners(n *Node, h Handoff, log *slog.Logger, timeout time.Duration) *Owners {
	if log == nil {
		log = slog.Default()
	}
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	return &Owners{n: n, h: h, log: log, timeout: timeout,
		held: make(map[string]Ownership), recorded: make(map[string]int64), releasing: make(map[string]*releasing)}
}

// Owners is a tenant.Owners.
var _ tenant.Owners = (*Owners)(nil)

// Claim makes this node the owner of tenant id, or returns a
// *tenant.ElsewhereError naming the node that is. A release of id in
// flight is called off if its owner key is not being deleted yet (the
// claim is kept, and the copy is current); else the claim waits for it.
// The local copy is stale unless this node already held the tenant (under
// the same claim), or was its last owner (nobody else has written it
// since) and the current replica is the one this node last recorded (a
// claim of this node that never got as far as replicating, say its restore
// failed, does not make an old local copy current).
func (o *Owners) Claim(ctx context.Context, id string) (bool, error) {
	if o.keep(id) {
		return false, nil
	}
	o.mu.Lock()
	r := o.releasing[id]
	o.mu.Unlock()
	if r != nil {
		select {
		case <-r.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	own, err := o.n.Claim(ctx, id)
	if err != nil {
		return false, err
	}
	if !own.Mine {
		return false, &tenant.ElsewhereError{Tenant: id, Node: own.Owner.ID, Address: own.Owner.Advertise}
	}
	o.mu.Lock()
	prev, had := o.held[id]
	same := had && prev.Token == own.Token
	if same {
		own = prev // a claim already held: keep what its transaction said
	}
	o.held[id] = own
	fresh := same || (own.Previous == o.n.cfg.NodeID && own.Source == o.recorded[id])
	o.mu.Unlock()
	return !fresh, nil
}

// Elsewhere is tenant.Pool.Elsewhere's answer, from this node's cache: an
// *tenant.ElsewhereError when another live node owns tenant id.
func (o *Owners) Elsewhere(id string) error {
	own, ok := o.n.Owner(id)
	if !ok || own.Mine || own.Owner.ID == o.n.cfg.NodeID || own.Owner.Advertise == "" {
		return nil // unowned, ours, an earlier run of ours, or a node not known yet: the claim decides
	}
	return &tenant.ElsewhereError{Tenant: id, Node: own.Owner.ID, Address: own.Owner.Advertise}
}

// keep calls off id's release in flight, if its owner key is not being
// deleted yet and the claim is still this node's, and says whether it did.
func (o *Owners) keep(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.releasing[id]
	if r == nil || r.committed || r.cancelled {
		return false
	}
	own, ok := o.n.Owner(id)
	if held, had := o.held[id]; !ok || !own.Mine || !had || held.Token != own.Token {
		return false
	}
	r.cancelled = true
	r.cancel()
	return true
}

// Release gives tenant id up in the background: once its final sync is in
// the bucket, the owner key is deleted. See Owners for a failed sync.
func (o *Owners) Release(id string) {
	o.mu.Lock()
	own, ok := o.held[id]
	if !ok || o.releasing[id] != nil {
		o.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	r := &releasing{done: make(chan struct{}), cancel: cancel}
	o.releasing[id] = r
	o.wg.Add(1)
	o.mu.Unlock()
	go func() {
		defer o.wg.Done()
		defer cancel()
		err := o.release(ctx, r, own)
		o.mu.Lock()
		kept := r.cancelled
		if !kept && (err == nil || errors.Is(err, ErrNotOwner) || o.n.Err() != nil) {
			delete(o.held, id)
		}
		delete(o.releasing, id)
		close(r.done)
		o.mu.Unlock()
		if err != nil && !kept && o.n.Err() == nil {
			o.log.Warn("tenant kept claimed by this node", "tenant", id, "err", err)
		}
	}()
}

// release waits for own's tenant's final sync, then deletes its owner key
// unless r was called off meanwhile.
func (o *Owners) release(ctx context.Context, r *releasing, own Ownership) error {
	if err := o.n.Err(); err != nil {
		return err // the lease is gone, and the claim with it
	}
	if err := o.h.Handed(ctx, own.Tenant); err != nil {
		return err
	}
	o.mu.Lock()
	if r.cancelled {
		o.mu.Unlock()
		return context.Canceled
	}
	r.committed = true
	o.mu.Unlock()
	return o.n.Release(ctx, own)
}

// Forget drops every claim made under a lease the node has lost and calls
// off the releases in flight (those claims went with the lease): for a
// node that rejoins the cluster under a new lease.
func (o *Owners) Forget() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.releasing {
		if !r.committed && !r.cancelled {
			r.cancelled = true
			r.cancel()
		}
	}
	clear(o.held)
}

// Held lists the tenants this node has claimed and not given up.
func (o *Owners) Held() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	ids := make([]string, 0, len(o.held))
	for id := range o.held {
		ids = append(ids, id)
	}
	return ids
}

// Close waits for the releases in flight. Call it after the pool closed
// and before the replication and the node close.
func (o *Owners) Close() error {
	o.wg.Wait()
	return nil
}
