package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster/clustertest"
)

// cutUntilLost cuts link and waits for n to notice.
func cutUntilLost(t *testing.T, n *Node, link *clustertest.Link) {
	t.Helper()
	lost := n.Lost()
	link.Cut()
	select {
	case <-lost:
	case <-time.After(waitLimit):
		t.Fatalf("%s not lost %v after it was cut off", n.cfg.NodeID, waitLimit)
	}
}

// rejoin calls n.Rejoin until it succeeds (the etcd client reconnects
// after a heal with a back-off of its own), failing after waitLimit.
func rejoin(t *testing.T, n *Node, ready func(context.Context, int64) error) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
		err := n.Rejoin(ctx, ready)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not rejoin within %v: %v", n.cfg.NodeID, waitLimit, err)
		}
		time.Sleep(100 * time.Millisecond) // a back-off between tries, not a wait for an event
	}
}

// TestRejoinAfterCutGivesNewLease: a node cut off from etcd loses its
// lease; once the link heals, Rejoin gives it a new lease and a live
// registration. What it held under the old lease is not its own any
// more (the old lease was revoked, freeing its tenants at once); it
// claims anew with a larger token and learns it was the last owner, and a
// tenant another node took meanwhile stays with that node.
func TestRejoinAfterCutGivesNewLease(t *testing.T) {
	e := startEtcd(t)
	link := clustertest.NewLink(t, e.Addr)
	a, b := openNode(t, link.URL(), "a", testTTL), openNode(t, e.URL(), "b", testTTL)
	ctx := testCtx(t)
	old := map[string]Ownership{}
	for _, id := range []string{"t1", "t2"} {
		own, err := a.Claim(ctx, id)
		if err != nil || !own.Mine {
			t.Fatalf("a claims %s: %+v, %v", id, own, err)
		}
		old[id] = own
	}
	if err := a.Rejoin(ctx, nil); !errors.Is(err, ErrNotLost) {
		t.Fatalf("Rejoin of a live node: %v, want ErrNotLost", err)
	}
	lostBefore := a.Lost()
	cutUntilLost(t, a, link)
	// b takes t2 once a's lease has expired.
	await(t, b.om, "a's tenants freed by lease expiry", func() bool { return len(b.owners.heldBy("a")) == 0 })
	if own, err := b.Claim(ctx, "t2"); err != nil || !own.Mine {
		t.Fatalf("b claims t2: %+v, %v", own, err)
	}

	link.Heal(t)
	var readyAt int64
	rejoin(t, a, func(_ context.Context, rev int64) error { readyAt = rev; return nil })
	if a.Err() != nil {
		t.Fatalf("a rejoined but Err() = %v", a.Err())
	}
	if readyAt == 0 {
		t.Fatal("Rejoin did not call ready with a revision")
	}
	select {
	case <-a.Lost():
		t.Fatal("a's Lost is closed after it rejoined")
	default:
	}
	select {
	case <-lostBefore:
	default:
		t.Fatal("the lost term's channel reopened")
	}
	await(t, b.nm, "a registered again", func() bool { _, ok := b.nodes.get("a"); return ok })
	if err := a.Release(ctx, old["t1"]); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("release of a claim made under the lost lease: %v, want ErrNotOwner", err)
	}
	own, err := a.Claim(ctx, "t1")
	if err != nil || !own.Mine || own.Token <= old["t1"].Token || own.Previous != "a" {
		t.Fatalf("a claims t1 again: %+v, %v; want Mine, a larger token than %d, previous a", own, err, old["t1"].Token)
	}
	own, err = a.Claim(ctx, "t2")
	if err != nil || own.Mine || own.Owner.ID != "b" {
		t.Fatalf("a asks for t2, which b took: %+v, %v; want b", own, err)
	}
	// The new lease is renewed: a is still there after several TTLs.
	time.Sleep(3 * testTTL) // the span the lease must outlive, not a wait for an event
	if err := a.Err(); err != nil {
		t.Fatalf("a's new lease lapsed: %v", err)
	}
}

// TestRejoinRefusedWhenIDTaken: if another process registered the node id
// while the node was cut off, the node does not rejoin: two processes never
// serve under one id.
func TestRejoinRefusedWhenIDTaken(t *testing.T) {
	e := startEtcd(t)
	link := clustertest.NewLink(t, e.Addr)
	a := openNode(t, link.URL(), "a", testTTL)
	b := openNode(t, e.URL(), "b", testTTL)
	cutUntilLost(t, a, link)
	await(t, b.nm, "a's registration gone", func() bool { _, ok := b.nodes.get("a"); return !ok })
	a2 := openNode(t, e.URL(), "a", testTTL)
	link.Heal(t)
	deadline := time.Now().Add(waitLimit)
	for {
		ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
		err := a.Rejoin(ctx, nil)
		cancel()
		if errors.Is(err, ErrNodeIDInUse) {
			break
		}
		if err == nil {
			t.Fatal("a rejoined under an id another process holds")
		}
		if time.Now().After(deadline) {
			t.Fatalf("Rejoin: %v, want ErrNodeIDInUse", err)
		}
		time.Sleep(100 * time.Millisecond) // a back-off between tries
	}
	if a.Err() == nil {
		t.Fatal("a refused rejoin but is not lost")
	}
	if a2.Err() != nil {
		t.Fatalf("the process that holds the id lost it: %v", a2.Err())
	}
}
