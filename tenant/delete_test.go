package tenant

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// A holder that never lets go must not leave Delete hanging, nor the
// account half deleted: Delete gives up with ctx's error, the tenant keeps
// its row, file and data and goes on serving, and a later Delete succeeds.
func TestDeleteGivesUpCleanlyWhenContextEndsWhileHeld(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "frank")
	ctx := context.Background()
	if err := acquireWrite(p, tn.ID); err != nil {
		t.Fatal(err)
	}
	_, release, err := p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := p.Delete(short, tn.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Delete while held past its deadline: %v; want context.DeadlineExceeded", err)
	}

	if got, err := p.Directory().Get(ctx, tn.ID); err != nil || got.State != StateActive {
		t.Fatalf("routing row after a given-up delete: %+v, %v; want active", got, err)
	}
	if _, err := os.Stat(p.tenantPath(tn.ID)); err != nil {
		t.Fatalf("file after a given-up delete: %v", err)
	}
	for range 2 { // the holder is still out: the handle is shared again
		if err := acquireWrite(p, tn.ID); err != nil {
			t.Fatalf("write after a given-up delete: %v", err)
		}
	}
	s, release2, err := p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = s.GetContext(ctx, &n, "SELECT count(*) FROM items")
	release2()
	if err != nil || n != 3 {
		t.Fatalf("items after a given-up delete = %d, %v; want 3", n, err)
	}

	release()
	if err := p.Delete(ctx, tn.ID); err != nil {
		t.Fatalf("Delete once released: %v", err)
	}
	if files := filesUnder(t, p.dir, "tenants"); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	if _, err := p.Directory().Get(ctx, tn.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("routing row after delete: %v", err)
	}
}

// A Delete that gave up hands the handle back to the LRU, so it counts
// against capacity and closes when evicted, as any other.
func TestGivenUpDeleteLeavesHandleInThePool(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 1})
	a := mustProvision(t, p, "alice")
	b := mustProvision(t, p, "bob")
	ctx := context.Background()
	_, release, err := p.Acquire(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := p.Delete(short, a.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Delete while held past its deadline: %v; want context.DeadlineExceeded", err)
	}
	release()
	if err := acquireWrite(p, b.ID); err != nil { // evicts alice
		t.Fatal(err)
	}
	p.drainClosing()
	if st := p.Stats(); st.Open != 1 || st.Evictions != 1 {
		t.Fatalf("stats %+v; want 1 open and alice evicted", st)
	}
	if err := acquireWrite(p, a.ID); err != nil {
		t.Fatalf("alice after eviction: %v", err)
	}
}
