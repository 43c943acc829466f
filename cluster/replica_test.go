package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// TestReplicaPointerMovesOnlyForTheOwner: the token of the current
// replica is what the next claim reads, and only the owner whose claim
// still holds can move it; a claim that lapsed cannot, even with the right
// token in hand.
func TestReplicaPointerMovesOnlyForTheOwner(t *testing.T) {
	e := startEtcd(t)
	a, b := openNode(t, e.URL(), "a", testTTL), openNode(t, e.URL(), "b", testTTL)
	ctx := testCtx(t)
	if _, err := a.cli.Put(ctx, a.keys.id("t1"), "someone"); err != nil {
		t.Fatal(err)
	}

	first, err := a.Claim(ctx, "t1")
	if err != nil || !first.Mine || first.Source != 0 {
		t.Fatalf("first claim: %+v, %v; want mine with no source", first, err)
	}
	prev, err := a.SetReplica(ctx, first)
	if err != nil || prev != 0 {
		t.Fatalf("record a's replica: %d, %v", prev, err)
	}
	if err := a.Release(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetReplica(ctx, first); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("a lapsed claim moved the pointer: %v", err)
	}

	await(t, b.om, "b sees t1 released", func() bool { _, ok := b.Owner("t1"); return !ok })
	second, err := b.Claim(ctx, "t1")
	if err != nil || !second.Mine || second.Source != first.Token {
		t.Fatalf("b's claim: %+v, %v; want source %d", second, err, first.Token)
	}
	stale := second
	stale.Owner, stale.Token = a.Info(), first.Token
	if _, err := a.SetReplica(ctx, stale); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("a moved the pointer under b's claim: %v", err)
	}
	if prev, err := b.SetReplica(ctx, second); err != nil || prev != first.Token {
		t.Fatalf("record b's replica: %d, %v; want %d superseded", prev, err, first.Token)
	}
	if err := b.Release(ctx, second); err != nil {
		t.Fatal(err)
	}
	await(t, a.om, "a sees t1 released", func() bool { _, ok := a.Owner("t1"); return !ok })
	third, err := a.Claim(ctx, "t1")
	if err != nil || third.Source != second.Token || third.Previous != "b" {
		t.Fatalf("third claim: %+v, %v; want source %d from b", third, err, second.Token)
	}
	// Deleted from the directory: a late final sync cannot record a replica.
	if _, err := a.cli.Delete(ctx, a.keys.id("t1")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetReplica(ctx, third); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("the pointer of a deleted tenant was recorded: %v", err)
	}
}

// handed is a Handoff whose final syncs always reached the bucket.
type handed struct{}

func (handed) Handed(context.Context, string) error { return nil }

// TestALocalCopyIsFreshOnlyWhenItsReplicaIsCurrent: a node that owned a
// tenant last serves its own copy again only if the current replica is
// the one it recorded; a claim of its that replicated nothing (its restore
// failed) does not make its old copy current.
func TestALocalCopyIsFreshOnlyWhenItsReplicaIsCurrent(t *testing.T) {
	e := startEtcd(t)
	na, nb := openNode(t, e.URL(), "a", testTTL), openNode(t, e.URL(), "b", testTTL)
	a, b := NewOwners(na, handed{}, nil, 0), NewOwners(nb, handed{}, nil, 0)
	ctx := testCtx(t)
	if _, err := na.cli.Put(ctx, na.keys.id("t1"), "someone"); err != nil {
		t.Fatal(err)
	}
	claim := func(o *Owners, n *Node) (bool, int64) {
		t.Helper()
		var stale bool
		var err error
		for range 100 { // until the other node's release reached this node's cache
			if stale, err = o.Claim(ctx, "t1"); !errors.Is(err, tenant.ErrElsewhere) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		tok, _, _ := o.Token("t1")
		return stale, tok
	}
	giveUp := func(o *Owners) {
		o.Release("t1")
		if err := o.Close(); err != nil { // waits for the release
			t.Fatal(err)
		}
	}
	stale, tok := claim(a, na)
	if !stale {
		t.Fatal("a's first claim trusts a local copy it cannot have")
	}
	if _, err := a.Current(ctx, "t1", tok); err != nil {
		t.Fatal(err)
	}
	giveUp(a)
	if stale, _ := claim(a, na); stale {
		t.Fatal("a's copy is stale on its next claim, though its replica is the current one")
	}
	giveUp(a)
	_, tb := claim(b, nb)
	if _, err := b.Current(ctx, "t1", tb); err != nil {
		t.Fatal(err)
	}
	giveUp(b)
	if stale, _ := claim(a, na); !stale {
		t.Fatal("a trusts its copy after b wrote the tenant")
	}
	giveUp(a) // say a's restore failed: it gives the tenant up having replicated nothing
	if stale, _ := claim(a, na); !stale {
		t.Fatal("a trusts its old copy again after a claim that replicated nothing")
	}
	giveUp(a)
}
