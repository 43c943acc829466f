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
type Owners struct {
	n       *Node
	h       Handoff
	log     *slog.Logger
	timeout time.Duration

	mu        sync.Mutex
	held      map[string]Ownership     // claims this node made and holds
	recorded  map[string]int64         // the replica token this node last recorded, by tenant
	releasing map[string]chan struct{} // closed when the release ends
	wg        sync.WaitGroup
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
		held: make(map[string]Ownership), recorded: make(map[string]int64), releasing: make(map[string]chan struct{})}
}

// Owners is a tenant.Owners.
var _ tenant.Owners = (*Owners)(nil)

// Claim makes this node the owner of tenant id, or returns a
// *tenant.ElsewhereError naming the node that is. It waits for a release
// of id in flight first. The local copy is stale unless this node already
// held the tenant, or was its last owner (nobody else has written it since)
// and the current replica is the one this node last recorded (a claim of
// this node that never got as far as replicating, say its restore failed,
// does not make an old local copy current).
func (o *Owners) Claim(ctx context.Context, id string) (bool, error) {
	o.mu.Lock()
	ch := o.releasing[id]
	o.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
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
	if had && prev.Token == own.Token {
		own = prev // a claim already held: keep what its transaction said
	}
	o.held[id] = own
	fresh := had || (own.Previous == o.n.cfg.NodeID && own.Source == o.recorded[id])
	o.mu.Unlock()
	return !fresh, nil
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
	ch := make(chan struct{})
	o.releasing[id] = ch
	o.wg.Add(1)
	o.mu.Unlock()
	go func() {
		defer o.wg.Done()
		err := o.release(own)
		o.mu.Lock()
		if err == nil || errors.Is(err, ErrNotOwner) || o.n.Err() != nil {
			delete(o.held, id)
		}
		delete(o.releasing, id)
		close(ch)
		o.mu.Unlock()
		if err != nil && o.n.Err() == nil {
			o.log.Warn("tenant kept claimed by this node", "tenant", id, "err", err)
		}
	}()
}

// release waits for own's tenant's final sync, then deletes its owner key.
func (o *Owners) release(own Ownership) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := o.n.Err(); err != nil {
		return err // the lease is gone, and the claim with it
	}
	if err := o.h.Handed(ctx, own.Tenant); err != nil {
		return err
	}
	return o.n.Release(ctx, own)
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
