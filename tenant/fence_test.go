package tenant

import (
	"context"
	"errors"
	"testing"
)

// TestAFencedPoolServesAgainOnlyOnceDrained: Unfence refuses while a
// handle from before the fence is still held, and once the last holder let
// go the pool serves again, opening (and claiming) the tenant anew.
func TestAFencedPoolServesAgainOnlyOnceDrained(t *testing.T) {
	p, f, _ := newOwnedPool(t)
	ctx := context.Background()
	tn := mustProvision(t, p, "held")
	if p.Drained() {
		t.Fatal("a pool that is not fenced says it is drained")
	}
	_, release, err := p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	p.Fence(errors.New("lease lost"))
	if p.Drained() {
		t.Fatal("drained while a handle from before the fence is held")
	}
	if err := p.Unfence(); err == nil {
		t.Fatal("Unfence succeeded while a handle from before the fence is held")
	}
	if _, _, err := p.Acquire(ctx, tn.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("acquire after a refused Unfence: %v, want ErrUnavailable", err)
	}
	release()
	p.drainClosing()
	if !p.Drained() {
		t.Fatal("not drained after the last holder let go")
	}
	if err := p.Unfence(); err != nil {
		t.Fatal(err)
	}
	before := len(f.got())
	_, release, err = p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatalf("acquire after Unfence: %v", err)
	}
	release()
	if got := f.got()[before:]; len(got) < 2 || got[0] != "claim "+tn.ID || got[1] != "attach "+tn.ID {
		t.Fatalf("after Unfence the acquire made %v, want a claim, then an attach", got)
	}
	if _, err := p.Provision(ctx, "after", writeAccount); err != nil {
		t.Fatalf("provision after Unfence: %v", err)
	}
}
