package cluster

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// gatedHandoff holds every Handed until its gate is closed, as a final
// sync to a slow bucket would.
type gatedHandoff struct {
	gate    chan struct{}
	started chan string
}

func (h *gatedHandoff) Handed(ctx context.Context, id string) error {
	h.started <- id
	select {
	case <-h.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestClaimDuringReleaseKeepsTheClaim: a tenant asked for again while its
// release waits for the final sync is kept: the claim returns at once
// with the local copy current (no restore), the owner key and its token
// stay as they were, and the release, when its sync ends, deletes nothing.
func TestClaimDuringReleaseKeepsTheClaim(t *testing.T) {
	e := startEtcd(t)
	n := openNode(t, e.URL(), "a", testTTL)
	h := &gatedHandoff{gate: make(chan struct{}), started: make(chan string, 1)}
	// A release timeout past waitLimit: a claim that waited for the
	// release would wait for the gate.
	o := NewOwners(n, h, slog.New(slog.DiscardHandler), 3*waitLimit)
	ctx := testCtx(t)
	if stale, err := o.Claim(ctx, "t1"); err != nil || !stale {
		t.Fatalf("first claim: stale %v, %v; want a stale copy (never owned here)", stale, err)
	}
	before, _ := n.Owner("t1")
	o.Release("t1")
	<-h.started // the release is waiting for the final sync

	done := make(chan struct{})
	var stale bool
	var err error
	go func() {
		defer close(done)
		stale, err = o.Claim(ctx, "t1")
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		close(h.gate)
		t.Fatal("the claim waited for the pending release's final sync")
	}
	if err != nil || stale {
		t.Fatalf("claim during the release: stale %v, %v; want the current copy kept", stale, err)
	}
	close(h.gate)
	if err := o.Close(); err != nil { // waits for the release goroutine
		t.Fatal(err)
	}
	after, ok := n.Owner("t1")
	if !ok || !after.Mine || after.Token != before.Token {
		t.Fatalf("after the called-off release: %+v, %v; want still mine at token %d", after, ok, before.Token)
	}
	resp, err := n.cli.Get(ctx, n.keys.owner("t1"))
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].ModRevision != before.Token {
		t.Fatalf("owner key in etcd: %v, %v; want it at revision %d", resp, err, before.Token)
	}
	// A later release, not called off, gives the tenant up.
	o.Release("t1")
	<-h.started
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if own, ok := n.Owner("t1"); ok {
		t.Fatalf("after a completed release the cache still names %+v", own)
	}
}

// TestForgetDropsClaimsOfTheLostLease: after Forget (a node rejoining),
// a claim is judged afresh: the copy is stale unless this node was the
// last owner, whatever the node held before.
func TestForgetDropsClaimsOfTheLostLease(t *testing.T) {
	e := startEtcd(t)
	n := openNode(t, e.URL(), "a", testTTL)
	b := openNode(t, e.URL(), "b", testTTL)
	o := NewOwners(n, &gatedHandoff{gate: make(chan struct{}), started: make(chan string, 8)}, slog.New(slog.DiscardHandler), 0)
	ctx := testCtx(t)
	if _, err := o.Claim(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	o.Forget()
	if len(o.Held()) != 0 {
		t.Fatalf("held after Forget: %v", o.Held())
	}
	// b owned t2 last: a's claim of it needs the replica.
	if own, err := b.Claim(ctx, "t2"); err != nil || !own.Mine {
		t.Fatal(own, err)
	}
	resp, err := b.cli.Delete(ctx, b.keys.owner("t2"))
	if err != nil || resp.Deleted != 1 {
		t.Fatal(resp, err)
	}
	await(t, n.om, "t2 free", func() bool { _, ok := n.owners.get("t2"); return !ok })
	if stale, err := o.Claim(ctx, "t2"); err != nil || !stale {
		t.Fatalf("claim of a tenant b owned last: stale %v, %v; want stale", stale, err)
	}
	if err := errors.Join(o.Close()); err != nil {
		t.Fatal(err)
	}
}
