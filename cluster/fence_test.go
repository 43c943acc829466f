package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster/clustertest"
)

// TestCutOffNodeStopsBeforeItsTenantsCanMove pins the fencing rule: a node
// cut off from etcd closes Lost while its lease still holds its tenants,
// so no other node can claim them yet; another node's claim succeeds only
// once the lease has expired, with a larger fencing token.
func TestCutOffNodeStopsBeforeItsTenantsCanMove(t *testing.T) {
	e := startEtcd(t)
	link := clustertest.NewLink(t, e.Addr)
	// A TTL twice the shortest: a 2 s margin between Lost and expiry, so a
	// busy CI machine cannot starve the test into a false failure.
	const ttl = 2 * testTTL
	a, b := openNode(t, link.URL(), "a", ttl), openNode(t, e.URL(), "b", ttl)
	ctx := testCtx(t)
	tenants := []string{"t1", "t2", "t3"}
	tokens := make(map[string]int64)
	for _, id := range tenants {
		own, err := a.Claim(ctx, id)
		if err != nil || !own.Mine {
			t.Fatalf("a claims %s: %+v, %v", id, own, err)
		}
		tokens[id] = own.Token
	}

	cut := time.Now()
	link.Cut()
	select {
	case <-a.Lost():
		t.Logf("a lost its lease %v after the cut (TTL %v)", time.Since(cut), ttl)
	case <-time.After(waitLimit):
		t.Fatalf("a's Lost not closed %v after it was cut off", waitLimit)
	}
	if !errors.Is(a.Err(), ErrLost) {
		t.Fatalf("a.Err() = %v, want ErrLost", a.Err())
	}
	// At this moment a's lease must still be alive in etcd: b's claim
	// transaction (not its cache) finds every tenant owned by a.
	for _, id := range tenants {
		own, err := b.claim(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if own.Mine || own.Owner.ID != "a" {
			t.Fatalf("b claimed %s while a could still be serving it: %+v", id, own)
		}
	}
	if own, ok := a.Owner("t1"); !ok || own.Mine {
		t.Fatalf("a lost node's cache says %+v, %v; want t1 known but not Mine", own, ok)
	}
	if _, err := a.Claim(ctx, "t4"); !errors.Is(err, ErrLost) {
		t.Fatalf("lost node claims: %v, want ErrLost", err)
	}

	// When a's lease expires, etcd deletes its keys and b's watch sees it.
	await(t, b.om, "a's tenants freed by lease expiry", func() bool { return len(b.owners.heldBy("a")) == 0 })
	await(t, b.nm, "a's registration gone", func() bool { _, ok := b.nodes.get("a"); return !ok })
	t.Logf("b saw a's tenants free %v after the cut", time.Since(cut))
	var last int64
	for _, id := range tenants {
		own, err := b.Claim(ctx, id)
		if err != nil || !own.Mine {
			t.Fatalf("b claims %s after expiry: %+v, %v", id, own, err)
		}
		if own.Token <= tokens[id] || own.Token <= last {
			t.Fatalf("b's token for %s is %d; a's was %d, the previous claim's %d: tokens must grow", id, own.Token, tokens[id], last)
		}
		last = own.Token
	}
	if err := a.Close(); err != nil {
		t.Fatalf("close a lost node: %v", err)
	}
}

// TestOpenFailsWithoutEtcd: a node that cannot reach etcd does not start.
func TestOpenFailsWithoutEtcd(t *testing.T) {
	link := clustertest.NewLink(t, "127.0.0.1:1")
	link.Cut()
	eps, err := ParseURL(link.URL())
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open(testCtx(t), Config{Endpoints: eps, NodeID: "a", Advertise: "http://a:1", DialTimeout: 500 * time.Millisecond})
	if err == nil {
		n.Close()
		t.Fatal("Open succeeded with no etcd to reach")
	}
	if !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("error does not say which etcd: %v", err)
	}
}

// TestLostWhenLeaseRevokedElsewhere: etcd saying the lease is gone ends the
// node at the next renewal, without waiting for the safe deadline.
func TestLostWhenLeaseRevokedElsewhere(t *testing.T) {
	e := startEtcd(t)
	a, b := openNode(t, e.URL(), "a", testTTL), openNode(t, e.URL(), "b", testTTL)
	if _, err := b.cli.Revoke(testCtx(t), a.term.Load().lease); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Lost():
	case <-time.After(waitLimit):
		t.Fatalf("Lost not closed %v after the lease was revoked", waitLimit)
	}
	if err := a.Err(); !errors.Is(err, ErrLost) {
		t.Fatalf("Err() = %v, want ErrLost", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}
