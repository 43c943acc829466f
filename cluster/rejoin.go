package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// ErrNotLost means Rejoin was called on a node whose lease still holds.
var ErrNotLost = errors.New("cluster: the node has not lost its lease")

// Rejoin gives a node that lost its lease a new one, so that it can serve
// again: it grants a lease, revokes the lost one (which deletes the old
// registration and every owner key still on it, if etcd has not expired
// them yet), registers the node under the new lease and waits until the
// caches of nodes and owners hold that registration's revision. Then it
// calls ready with that revision, for the caller to bring its own caches
// up to it; only if ready succeeds does the new lease become the node's:
// Lost and Err then describe it, and claims are made with it.
//
// The caller must have closed every handle it opened under the lost lease
// before calling Rejoin: revoking the lease lets other nodes claim those
// tenants at once. A claim made under the lost lease is never Mine again,
// and a Release of one is ErrNotOwner.
//
// The node id is registered only if no live node holds it: if another
// process took the id while this one was cut off, Rejoin fails with
// ErrNodeIDInUse and the node stays lost. Any other failure leaves it lost
// too, and Rejoin may be called again.
func (n *Node) Rejoin(ctx context.Context, ready func(ctx context.Context, rev int64) error) error {
	n.rejoinMu.Lock()
	defer n.rejoinMu.Unlock()
	if n.closed {
		return ErrClosed
	}
	old := n.term.Load()
	if old.err() == nil {
		return ErrNotLost
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(n.ctx, cancel)() // Close ends a rejoin in flight
	t, err := n.grant(ctx)
	if err != nil {
		return fmt.Errorf("cluster: rejoin: %w", err)
	}
	if err := n.rejoin(ctx, old, t, ready); err != nil {
		t.stop()
		rerr := n.revoke(t.lease)
		if errors.Is(rerr, rpctypes.ErrLeaseNotFound) {
			rerr = nil // it lapsed already
		}
		return errors.Join(fmt.Errorf("cluster: rejoin: %w", err), rerr)
	}
	n.term.Store(t)
	return nil
}

// rejoin is Rejoin's work once the new lease t is granted.
func (n *Node) rejoin(ctx context.Context, old, t *term, ready func(context.Context, int64) error) error {
	if _, err := n.cli.Revoke(ctx, old.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("revoke the lost lease: %w", err)
	}
	rev, err := n.register(ctx, t.lease)
	if err != nil {
		return err
	}
	for _, m := range []*mirror{n.om, n.nm} {
		if err := m.waitFor(ctx, rev); err != nil {
			return err
		}
	}
	if ready != nil {
		if err := ready(ctx, rev); err != nil {
			return err
		}
	}
	if err := t.err(); err != nil {
		return err // lost again while the caches caught up
	}
	if time.Now().UnixNano() >= t.until.Load() {
		return fmt.Errorf("%w: not renewed in time while the caches caught up", ErrLost)
	}
	return nil
}

// Current waits until the directory's copy holds every change up to rev
// (a revision this node read or wrote in etcd): a rejoining node's
// directory is then as current as its registration.
func (d *Directory) Current(ctx context.Context, rev int64) error {
	if err := d.m.waitFor(ctx, rev); err != nil {
		return fmt.Errorf("cluster: directory: %w", err)
	}
	return nil
}

// Current waits until the session cache's watch has applied every change
// up to rev, as Directory.Current.
func (s *Sessions) Current(ctx context.Context, rev int64) error {
	if err := s.m.waitFor(ctx, rev); err != nil {
		return fmt.Errorf("cluster: sessions: %w", err)
	}
	return nil
}
