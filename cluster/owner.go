package cluster

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Errors of ownership.
var (
	// ErrNotOwner means a Release found the owner key gone or replaced: the
	// ownership had already lapsed.
	ErrNotOwner = errors.New("cluster: not the owner")
	// ErrStaleOwner means the tenant is held by an earlier run of this
	// node id, whose lease has not expired yet.
	ErrStaleOwner = errors.New("cluster: tenant held by an earlier run of this node")
	// ErrBadTenantID means a tenant id cannot be part of a key.
	ErrBadTenantID = errors.New("cluster: bad tenant id")
)

// Ownership says who owns a tenant.
type Ownership struct {
	// Tenant is the tenant's id.
	Tenant string
	// Owner is the node that holds it; forward to Owner.Advertise unless
	// Mine.
	Owner NodeInfo
	// Token is the owner key's revision: it grows with every new claim of
	// any tenant, so a write stamped with an older token for this tenant is
	// from an owner that has since lost it.
	Token int64
	// Mine is whether this node is the owner.
	Mine bool
	// Previous is, for a claim this call made, the node that claimed the
	// tenant last before it ("" if none ever did): when it is this node,
	// no other node has written the tenant since, so this node's own copy
	// of the file is the newest there is. Empty when the claim was already
	// held.
	Previous string
	// lease is the lease the owner key carries.
	lease int64
	// Source is, for a claim this call made, the fencing token of the
	// claim whose replica holds the tenant's current state (0: none was
	// recorded; the replica, if any, is at the path without a token). See
	// [Node.SetReplica].
	Source int64
}

// Owner returns who owns tenant according to this node's cache, with no
// etcd round trip; false if nobody does (as far as the cache knows). Once
// Lost is closed, no ownership is Mine.
func (n *Node) Owner(tenant string) (Ownership, bool) {
	o, ok := n.owners.get(tenant)
	if !ok {
		return Ownership{}, false
	}
	return n.ownership(tenant, o), true
}

// OwnerNow reads who owns tenant from etcd (a linearizable read), not from
// the cache Owner reads, which a watch feeds and so may lag behind a claim
// another node has just made; false if nobody does.
func (n *Node) OwnerNow(ctx context.Context, tenant string) (Ownership, bool, error) {
	if !validTenantID(tenant) {
		return Ownership{}, false, fmt.Errorf("%w %q", ErrBadTenantID, tenant)
	}
	resp, err := n.cli.Get(ctx, n.keys.owner(tenant))
	if err != nil {
		return Ownership{}, false, fmt.Errorf("cluster: read the owner of %s: %w", tenant, err)
	}
	if len(resp.Kvs) == 0 {
		return Ownership{}, false, nil
	}
	own, err := n.checked(ctx, tenant, ownerOf(resp.Kvs[0]))
	return own, err == nil, err
}

// OwnedCounts is how many tenants each node holds, by node id, from the
// cache (a node that holds none is absent).
func (n *Node) OwnedCounts() map[string]int { return n.owners.counts() }

// Tenants lists the tenants this node holds, from the cache.
func (n *Node) Tenants() []string { return n.owners.heldBy(n.cfg.NodeID) }

// ownership describes an owner key.
func (n *Node) ownership(tenant string, o owner) Ownership {
	// A lost node owns nothing, whatever its cache still says; nor does a
	// node own what it held under a lease it lost before it rejoined.
	t := n.term.Load()
	mine := o.node == n.cfg.NodeID && o.lease == int64(t.lease) && t.err() == nil
	info, ok := n.nodes.get(o.node)
	if !ok {
		info = NodeInfo{ID: o.node}
	}
	if mine {
		info = n.Info()
	}
	return Ownership{Tenant: tenant, Owner: info, Token: o.rev, Mine: mine, lease: o.lease}
}

// Claim makes this node the owner of tenant if nobody is: a transaction
// puts <prefix>/owner/<tenant> = node id with the node's lease only if the
// key is absent. If the cache already names an owner, no round trip is
// made. The answer is Mine with the fencing token, or the other owner (to
// forward to). A lost node claims nothing (ErrLost).
func (n *Node) Claim(ctx context.Context, tenant string) (Ownership, error) {
	if err := n.Err(); err != nil {
		return Ownership{}, err
	}
	if !validTenantID(tenant) {
		return Ownership{}, fmt.Errorf("%w %q", ErrBadTenantID, tenant)
	}
	if o, ok := n.owners.get(tenant); ok {
		return n.checked(ctx, tenant, o)
	}
	return n.claim(ctx, tenant)
}

// claim is Claim's transaction, made whatever the cache says.
func (n *Node) claim(ctx context.Context, tenant string) (Ownership, error) {
	key, last := n.keys.owner(tenant), n.keys.lastOwner(tenant)
	t := n.term.Load()
	// The last-owner key (no lease) outlives the claim: read in the same
	// transaction before it is overwritten, it tells the claimer whether
	// anyone else has owned the tenant since it last did. The replica key
	// says which claim's replica to restore from.
	resp, err := n.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpGet(last), clientv3.OpGet(n.keys.replica(tenant)),
			clientv3.OpPut(key, n.cfg.NodeID, clientv3.WithLease(t.lease)),
			clientv3.OpPut(last, n.cfg.NodeID)).
		Else(clientv3.OpGet(key)).
		Commit()
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.lose(fmt.Errorf("%w: etcd no longer has the lease", ErrLost))
		return Ownership{}, t.err()
	}
	if err != nil {
		return Ownership{}, fmt.Errorf("cluster: claim tenant %s: %w", tenant, err)
	}
	if resp.Succeeded {
		// Like every write this node makes, a claim returns once the
		// node's own cache holds it, so that Owner agrees with it at once.
		if err := n.om.waitFor(ctx, resp.Header.Revision); err != nil {
			return Ownership{}, fmt.Errorf("cluster: claim tenant %s: %w", tenant, err)
		}
		own, err := n.checked(ctx, tenant, owner{node: n.cfg.NodeID, lease: int64(t.lease), rev: resp.Header.Revision})
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			own.Previous = string(kvs[0].Value)
		}
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
			own.Source = tokenOf(kvs[0].Value)
		}
		return own, err
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		// Deleted between the compare and the get: one of them ran first
		// in etcd's order, so claiming again is correct.
		return Ownership{}, fmt.Errorf("cluster: claim tenant %s: owner key changed under the claim; try again", tenant)
	}
	return n.checked(ctx, tenant, ownerOf(kvs[0]))
}

// checked turns an owner key into an Ownership, refusing one held by an
// earlier run of this node (forwarding it would loop back here). An owner
// missing from the node cache (its registration and its claim reach this
// node through two watches, in either order) is read from etcd.
func (n *Node) checked(ctx context.Context, tenant string, o owner) (Ownership, error) {
	own := n.ownership(tenant, o)
	if own.Mine {
		return own, nil
	}
	if err := n.Err(); err != nil {
		return Ownership{}, err // lost between the claim and now
	}
	if o.node == n.cfg.NodeID {
		return Ownership{}, fmt.Errorf("claim tenant %s: %w", tenant, ErrStaleOwner)
	}
	if own.Owner.Advertise == "" {
		resp, err := n.cli.Get(ctx, n.keys.node(o.node))
		if err != nil {
			return Ownership{}, fmt.Errorf("cluster: find node %s, owner of %s: %w", o.node, tenant, err)
		}
		if len(resp.Kvs) > 0 {
			own.Owner = nodeOf(n.keys.nodes(), resp.Kvs[0])
		}
	}
	return own, nil
}

// Release gives a tenant up after its handle is closed and its last
// changes are safe in the bucket: the owner key is deleted only if its
// revision is still own.Token and it is held with this node's lease, so a
// release never deletes a later owner's claim. A key already gone or replaced is ErrNotOwner. When Release
// returns, this node's cache no longer names it the owner.
func (n *Node) Release(ctx context.Context, own Ownership) error {
	// A claim made under a lease the node has since lost went with it.
	if !own.Mine || own.Owner.ID != n.cfg.NodeID || own.lease != int64(n.term.Load().lease) {
		return fmt.Errorf("cluster: release tenant %s: %w", own.Tenant, ErrNotOwner)
	}
	key := n.keys.owner(own.Tenant)
	resp, err := n.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", own.Token),
			clientv3.Compare(clientv3.LeaseValue(key), "=", own.lease)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("cluster: release tenant %s: %w", own.Tenant, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("cluster: release tenant %s at revision %d: %w", own.Tenant, own.Token, ErrNotOwner)
	}
	if err := n.om.waitFor(ctx, resp.Header.Revision); err != nil {
		return fmt.Errorf("cluster: release tenant %s: %w", own.Tenant, err)
	}
	return nil
}

// validTenantID reports whether id can be a key segment: cubby's ids are
// lower-case hex, but any short id without a slash or control byte will do.
func validTenantID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c == '/' || c == 0x7f {
			return false
		}
	}
	return true
}
