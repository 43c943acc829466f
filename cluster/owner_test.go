package cluster

import (
	"errors"
	"sync/atomic"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"testing"
)

func TestClaimHasOneOwnerAndOthersLearnWho(t *testing.T) {
	e := startEtcd(t)
	a, b := openNode(t, e.URL(), "a", testTTL), openNode(t, e.URL(), "b", testTTL)
	ctx := testCtx(t)

	own, err := a.Claim(ctx, "t1")
	if err != nil || !own.Mine || own.Token <= 0 {
		t.Fatalf("a claims t1: %+v, %v", own, err)
	}
	await(t, b.nm, "b sees node a", func() bool { _, ok := b.nodes.get("a"); return ok })
	other, err := b.Claim(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if other.Mine || other.Owner != a.Info() || other.Token != own.Token {
		t.Fatalf("b claims t1: %+v; want owned by %+v at %d", other, a.Info(), own.Token)
	}
	again, err := a.Claim(ctx, "t1")
	if err != nil || !again.Mine || again.Token != own.Token {
		t.Fatalf("a claims t1 again: %+v, %v; want the same ownership", again, err)
	}
	await(t, a.om, "a's cache sees its claim", func() bool { _, ok := a.Owner("t1"); return ok })
	if got := a.Tenants(); len(got) != 1 || got[0] != "t1" {
		t.Fatalf("a holds %v, want [t1]", got)
	}

	if err := a.Release(ctx, own); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, ok := a.Owner("t1"); ok {
		t.Fatal("a's cache still names an owner after Release returned")
	}
	if err := a.Release(ctx, own); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("second release: %v, want ErrNotOwner", err)
	}
	await(t, b.om, "b sees t1 released", func() bool { _, ok := b.Owner("t1"); return !ok })
	next, err := b.Claim(ctx, "t1")
	if err != nil || !next.Mine || next.Token <= own.Token {
		t.Fatalf("b claims released t1: %+v, %v; want mine with a token above %d", next, err, own.Token)
	}
	if err := a.Release(ctx, next); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("a releases b's ownership: %v, want ErrNotOwner", err)
	}
	stale := next
	stale.Token = own.Token
	if err := b.Release(ctx, stale); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("release with an old token: %v, want ErrNotOwner", err)
	}
}

func TestClaimRefusesBadTenantIDs(t *testing.T) {
	e := startEtcd(t)
	a := openNode(t, e.URL(), "a", testTTL)
	for _, id := range []string{"", "a/b", "a\x00", "x y", string(make([]byte, 200))} {
		if _, err := a.Claim(testCtx(t), id); !errors.Is(err, ErrBadTenantID) {
			t.Errorf("Claim(%q): %v, want ErrBadTenantID", id, err)
		}
	}
}

func TestNodeIDInUse(t *testing.T) {
	e := startEtcd(t)
	first := openNode(t, e.URL(), "a", testTTL)
	eps, _ := ParseURL(e.URL())
	cfg := Config{Endpoints: eps, NodeID: "a", Advertise: "http://x:1", LeaseTTL: testTTL}
	n, err := Open(testCtx(t), cfg)
	if !errors.Is(err, ErrNodeIDInUse) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("second node a: %v, want ErrNodeIDInUse", err)
	}
	// A clean stop frees the id at once: a restart need not wait a TTL.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = Open(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("node a after the first closed: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseRevokesEverythingTheNodeHeld(t *testing.T) {
	e := startEtcd(t)
	a, b := openNode(t, e.URL(), "a", testTTL), openNode(t, e.URL(), "b", testTTL)
	ctx := testCtx(t)
	for _, id := range []string{"t1", "t2"} {
		if _, err := a.Claim(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	await(t, b.om, "b sees a's claims", func() bool { _, ok := b.Owner("t2"); _, ok1 := b.Owner("t1"); return ok && ok1 })
	if err := a.Close(); err != nil {
		t.Fatalf("close a: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("close a again: %v", err)
	}
	if _, err := a.Claim(ctx, "t3"); !errors.Is(err, ErrClosed) {
		t.Fatalf("claim on a closed node: %v, want ErrClosed", err)
	}
	await(t, b.om, "b sees a's tenants free", func() bool { return len(b.owners.heldBy("a")) == 0 })
	await(t, b.nm, "b sees a gone", func() bool { _, ok := b.nodes.get("a"); return !ok })
	if own, err := b.Claim(ctx, "t1"); err != nil || !own.Mine {
		t.Fatalf("b claims t1 after a closed: %+v, %v", own, err)
	}
}

// TestOwnedTenantClaimMakesNoRoundTrip: once the cache knows the owner,
// Claim (the hot path of every request) asks etcd nothing.
func TestOwnedTenantClaimMakesNoRoundTrip(t *testing.T) {
	e := startEtcd(t)
	var calls atomic.Int64
	a := openNodeWith(t, e.URL(), "a", testTTL, &calls)
	b := openNode(t, e.URL(), "b", testTTL)
	ctx := testCtx(t)
	if _, err := a.Claim(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctx, "theirs"); err != nil {
		t.Fatal(err)
	}
	await(t, a.om, "a's cache knows both owners", func() bool {
		_, ok1 := a.Owner("mine")
		_, ok2 := a.Owner("theirs")
		return ok1 && ok2
	})
	before := calls.Load()
	ctx = counted(t)
	for range 100 {
		if own, err := a.Claim(ctx, "mine"); err != nil || !own.Mine {
			t.Fatalf("claim mine: %+v, %v", own, err)
		}
		if own, err := a.Claim(ctx, "theirs"); err != nil || own.Mine || own.Owner.ID != "b" {
			t.Fatalf("claim theirs: %+v, %v", own, err)
		}
	}
	if n := calls.Load() - before; n != 0 {
		t.Fatalf("200 cached claims made %d etcd requests", n)
	}
}

// TestOwnerMissingFromNodeCacheIsReadFromEtcd: a claim seen before the
// owner's registration still names the owner's address.
func TestOwnerMissingFromNodeCacheIsReadFromEtcd(t *testing.T) {
	e := startEtcd(t)
	a, b := openNode(t, e.URL(), "a", testTTL), openNode(t, e.URL(), "b", testTTL)
	ctx := testCtx(t)
	if _, err := b.Claim(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	await(t, a.om, "a sees b's claim", func() bool { _, ok := a.Owner("t1"); return ok })
	a.nodes.del(&mvccpb.KeyValue{Key: []byte(a.keys.node("b"))}) // as if b's registration were still on its way
	own, err := a.Claim(ctx, "t1")
	if err != nil || own.Mine || own.Owner != b.Info() {
		t.Fatalf("a claims t1: %+v, %v; want owned by %+v", own, err, b.Info())
	}
}
