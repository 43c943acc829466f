package cluster

import (
	"errors"
	"testing"
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
