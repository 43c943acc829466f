package cluster

import (
	"context"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Which replica holds a tenant's current state.
//
// In a cluster each claim replicates a tenant under a path of the bucket
// named by its fencing token (see package replica), and
// <prefix>/replica/<tenant-id> holds the token of the claim whose replica
// is the current one. Only the owner moves it, in a transaction that
// requires the owner key to still be its claim ([Node.SetReplica]); a new
// claim reads it in the claim transaction ([Ownership].Source). A node
// that lost its claim, even one paused past its lease that wakes up and
// uploads, can then only write under its own old token, which no claim
// reads any more.
//
// The pointer is its own key rather than part of last-owner because the
// two move at different moments: last-owner with the claim (it says whose
// local copy is fresh), the pointer only once the new claim's replica holds
// the tenant (its first upload reached the bucket). Moved at the claim, a
// new owner that died before its first upload would leave the pointer on
// an empty path.

// tokenOf reads a token stored as decimal; 0 if it does not parse.
func tokenOf(b []byte) int64 {
	t, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || t < 0 {
		return 0
	}
	return t
}

// SetReplica records that the replica under own's token holds the tenant's
// current state, if own is still this node's claim (the owner key's
// revision is own.Token and it carries this node's lease) and the tenant
// is in the directory. It returns the token the pointer held before (0 if
// none). A claim that lapsed, or a tenant deleted, is ErrNotOwner, and the
// pointer is left as it was.
func (n *Node) SetReplica(ctx context.Context, own Ownership) (previous int64, err error) {
	if !own.Mine || own.Owner.ID != n.cfg.NodeID || own.lease != int64(n.term.Load().lease) {
		return 0, fmt.Errorf("cluster: record replica of tenant %s: %w", own.Tenant, ErrNotOwner)
	}
	key, ptr := n.keys.owner(own.Tenant), n.keys.replica(own.Tenant)
	// The tenant must still be in the directory: a final sync that lands
	// while the tenant is being deleted must not bring its pointer back.
	resp, err := n.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", own.Token),
			clientv3.Compare(clientv3.LeaseValue(key), "=", own.lease),
			clientv3.Compare(clientv3.CreateRevision(n.keys.id(own.Tenant)), ">", 0)).
		Then(clientv3.OpGet(ptr), clientv3.OpPut(ptr, strconv.FormatInt(own.Token, 10))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("cluster: record replica of tenant %s: %w", own.Tenant, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("cluster: record replica of tenant %s at token %d: %w", own.Tenant, own.Token, ErrNotOwner)
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		previous = tokenOf(kvs[0].Value)
	}
	return previous, nil
}

// Token is the fencing token of this node's claim on tenant id and the
// token of the replica that was current when it was made (see
// replica.Fencing); ok is false unless this node holds the claim.
func (o *Owners) Token(id string) (token, source int64, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	own, ok := o.held[id]
	if !ok {
		return 0, 0, false
	}
	return own.Token, own.Source, true
}

// Current records that the replica under token holds tenant id's state
// now (see [Node.SetReplica]), while token is still this node's claim; it
// returns the token of the replica it superseded.
func (o *Owners) Current(ctx context.Context, id string, token int64) (int64, error) {
	o.mu.Lock()
	own, ok := o.held[id]
	o.mu.Unlock()
	if !ok || own.Token != token {
		return 0, fmt.Errorf("cluster: record replica of tenant %s at token %d: %w", id, token, ErrNotOwner)
	}
	prev, err := o.n.SetReplica(ctx, own)
	if err != nil {
		return 0, err
	}
	o.mu.Lock()
	if cur, ok := o.held[id]; ok && cur.Token == token {
		cur.Source = token
		o.held[id] = cur
	}
	o.recorded[id] = token
	o.mu.Unlock()
	return prev, nil
}

// ReplicaToken is the token of the claim whose replica holds tenant id's
// current state, as etcd has it now; 0 when none was recorded (the
// replica, if any, is at the path without a token).
func (a *Admin) ReplicaToken(ctx context.Context, id string) (int64, error) {
	resp, err := a.cli.Get(ctx, a.keys.replica(id))
	if err != nil {
		return 0, fmt.Errorf("cluster: read the replica of tenant %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	return tokenOf(resp.Kvs[0].Value), nil
}
