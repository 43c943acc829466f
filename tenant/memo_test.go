package tenant

import (
	"context"
	"strings"
	"testing"
	"time"
)

// acquireMemo acquires tenant id of p and returns its Store's memo.
func acquireMemo(t *testing.T, p *Pool, id string) (*Memo, func()) {
	t.Helper()
	s, release, err := p.Acquire(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Memo(), release
}

// What was read before a Forget is never kept after it, and nothing kept
// is found after one.
func TestMemoKeepsNothingReadBeforeAWrite(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "ann")
	m, release := acquireMemo(t, p, tn.ID)
	defer release()
	if m == nil {
		t.Fatal("a pool's handle has no memo")
	}
	gen := m.Gen()
	if !m.Put(gen, "k", "v1", 10) {
		t.Fatal("Put refused a small value")
	}
	if v, ok := m.Get("k"); !ok || v != "v1" {
		t.Fatalf("Get = %v, %v; want v1", v, ok)
	}
	stale := m.Gen()
	m.Forget() // a write
	if v, ok := m.Get("k"); ok {
		t.Fatalf("found %v after Forget", v)
	}
	if m.Put(stale, "k", "read before the write", 10) {
		t.Fatal("Put kept a value read before the write")
	}
	if _, ok := m.Get("k"); ok {
		t.Fatal("a value read before the write was found")
	}
	if !m.Put(m.Gen(), "k", "v2", 10) {
		t.Fatal("Put refused a value read after the write")
	}
	if got := p.Stats().MemoBytes; got != 10 {
		t.Fatalf("Stats.MemoBytes = %d, want 10", got)
	}
}

// A handle's memo holds at most 64 values, none over 64 KiB, and all the
// pool's memos at most MemoBytes; no tenant sees another's, and a closed
// handle's memo is kept for the tenant's next handle (see kept_test.go for
// when it is not).
func TestMemoIsBoundedAndGoesWithTheHandle(t *testing.T) {
	p := newTestPool(t, Config{MemoBytes: 1000, MaxOpen: 1})
	ann, bob := mustProvision(t, p, "ann"), mustProvision(t, p, "bob")
	m, release := acquireMemo(t, p, ann.ID)
	if m.Put(m.Gen(), "big", strings.Repeat("x", 1), memoLargest+1) {
		t.Fatal("kept a value over 64 KiB")
	}
	for i := range 100 {
		m.Put(m.Gen(), i, i, 1)
	}
	if n := len(m.m); n != memoEntries {
		t.Fatalf("the memo holds %d values, want %d", n, memoEntries)
	}
	if m.Put(m.Gen(), "over", 0, 1000) {
		t.Fatal("kept a value past the pool's MemoBytes")
	}
	if got := p.Stats().MemoBytes; got != memoEntries {
		t.Fatalf("Stats.MemoBytes = %d, want %d", got, memoEntries)
	}
	m.Put(m.Gen(), "kept", "ann's", 1)
	release()

	// bob's handle takes the only slot: ann's closes, her memo is kept.
	mb, releaseBob := acquireMemo(t, p, bob.ID)
	if mb == m {
		t.Fatal("two tenants share a memo")
	}
	if _, ok := mb.Get("kept"); ok {
		t.Fatal("bob's memo holds ann's value")
	}
	releaseBob()
	waitFor(t, "ann's memo kept", func() bool { return p.Stats().KeptMemos >= 1 })
	m2, release2 := acquireMemo(t, p, ann.ID)
	defer release2()
	if v, ok := m2.Get("kept"); !ok || v != "ann's" {
		t.Fatalf("ann's new handle found %v, %v; want what her closed one kept", v, ok)
	}
	if _, ok := m2.Get("over"); ok {
		t.Fatal("found a value the memo refused")
	}
}

// waitForMemoBytes waits for the handles evicted in the background to
// close and give their memos' bytes back.
func waitForMemoBytes(t *testing.T, p *Pool, want int64) {
	t.Helper()
	for range 500 {
		if p.Stats().MemoBytes == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("Stats.MemoBytes = %d, want %d", p.Stats().MemoBytes, want)
}

// Memos off (negative MemoBytes), or a Store made outside a pool: a nil
// memo, which keeps and finds nothing.
func TestNoMemoKeepsNothing(t *testing.T) {
	p := newTestPool(t, Config{MemoBytes: -1})
	tn := mustProvision(t, p, "ann")
	m, release := acquireMemo(t, p, tn.ID)
	defer release()
	if m != nil {
		t.Fatal("memos off, yet a handle has one")
	}
	if m.Put(m.Gen(), "k", "v", 1) {
		t.Fatal("a nil memo kept a value")
	}
	if _, ok := m.Get("k"); ok {
		t.Fatal("a nil memo found a value")
	}
	m.Forget()
	if (&Store{}).Memo() != nil {
		t.Fatal("a Store made outside a pool has a memo")
	}
}
