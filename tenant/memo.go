package tenant

import (
	"sync"
	"sync/atomic"
)

// Memo is what an app keeps in memory of one tenant's data: a read
// answered from it touches no file. It is the tenant's open handle's, never
// seen by another tenant. When the handle closes on its own (eviction, idle
// close) the pool keeps the memo beside the closed file, and the tenant's
// next handle takes it up again, as long as the file is still exactly as
// the handle left it (see Pool.AcquireLazily, which answers from such a
// memo without opening the file); otherwise, and whenever a handle closes
// for another reason (a file replaced under it, a Delete, the tenant moved
// to another node, a cluster node, the pool closing), it is dropped.
//
// Nothing in a Memo is checked against the file: the app that keeps a value
// must call Forget after every write that may change it, and keeps only
// what it read after taking Gen:
//
//	if v, ok := memo.Get(key); ok {
//		return v.(Thing), nil
//	}
//	gen := memo.Gen()
//	t, err := readThing(ctx, store)
//	if err == nil {
//		memo.Put(gen, key, t, size)
//	}
//
// and, for a write, defer memo.Forget() before it runs (Forget after the
// commit is what matters: a value read before it, kept after, is kept
// under an older generation and so never returned). That holds while the
// pool is the only writer of the file, as `serve` is of its data directory
// (its lock keeps cubby's other writers out); a file edited by another
// program under a running server may be answered from memory until the
// handle closes.
//
// A nil *Memo (a Store made outside a pool, or memos turned off) keeps
// nothing and finds nothing. Its methods are safe for concurrent use.
type Memo struct {
	budget *memoBudget
	mu     sync.Mutex
	gen    uint64
	m      map[any]memoEntry
	bytes  int64
}

type memoEntry struct {
	v    any
	size int64
}

// memoBudget is a pool's bound on what all its memos hold, open handles'
// and kept ones.
type memoBudget struct {
	max  int64
	used atomic.Int64
	// reclaim, if set, drops kept memos, oldest first, until need more
	// bytes fit, and says whether any was dropped.
	reclaim func(need int64) bool
}

// reserve takes n bytes of the budget, if they fit.
func (b *memoBudget) reserve(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

// Limits of one handle's memo: entries, and the largest value kept.
const (
	memoEntries = 64
	memoLargest = 64 << 10
)

// DefaultMemoBytes is what a pool's memos may hold in all (Config.MemoBytes).
const DefaultMemoBytes = 16 << 20

// newMemo returns a handle's memo drawing on budget, or nil when memos
// are off.
func newMemo(budget *memoBudget) *Memo {
	if budget == nil {
		return nil
	}
	return &Memo{budget: budget}
}

// Gen is the memo's generation: take it before reading what Put will keep.
func (m *Memo) Gen() uint64 {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

// Get returns the value kept under key, if any.
func (m *Memo) Get(key any) (any, bool) {
	if m == nil {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[key]
	return e.v, ok
}

// Put keeps v, about size bytes, under key, and says whether it did: not
// if Forget was called since gen was taken, v is larger than 64 KiB, or
// the pool's memos are full (after dropping the memos of closed handles
// it kept, oldest first). A handle keeps at most 64 values; a new one past
// that replaces one of them.
func (m *Memo) Put(gen uint64, key, v any, size int) bool {
	if m == nil || size < 0 || size > memoLargest {
		return false
	}
	n := int64(size)
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		return false
	}
	if !m.budget.reserve(n) { // reserved before anything is dropped
		reclaim := m.budget.reclaim
		if reclaim == nil {
			return false
		}
		// Not under m.mu: the kept memos dropped take their own locks, and
		// this memo may be one of them (then its generation moves on).
		m.mu.Unlock()
		dropped := reclaim(n)
		m.mu.Lock()
		if !dropped || gen != m.gen || !m.budget.reserve(n) {
			return false
		}
	}
	if old, ok := m.m[key]; ok {
		m.drop(key, old)
	} else if len(m.m) >= memoEntries {
		for k, old := range m.m { // any one: the map's order is random
			m.drop(k, old)
			break
		}
	}
	if m.m == nil {
		m.m = make(map[any]memoEntry)
	}
	m.m[key] = memoEntry{v: v, size: n}
	m.bytes += n
	return true
}

// Forget drops everything kept and starts a new generation, so that what
// was read before cannot be kept either. Call it after every write.
func (m *Memo) Forget() { m.reset(nil) }

// empty is whether m keeps nothing.
func (m *Memo) empty() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m) == 0
}

// size is what m keeps, in bytes.
func (m *Memo) size() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// drop removes key's entry e. m.mu is held.
func (m *Memo) drop(key any, e memoEntry) {
	delete(m.m, key)
	m.bytes -= e.size
	m.budget.used.Add(-e.size)
}

// close gives a memo's bytes back to the pool as it leaves it (with its
// handle, or dropped from the kept ones); a Put after it (a request still
// holding the Store) keeps nothing.
func (m *Memo) close() { m.reset(&memoBudget{}) } // max 0

// reset starts a new generation with nothing kept, giving the bytes back,
// and then draws on budget if it is not nil.
func (m *Memo) reset(budget *memoBudget) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	if m.bytes != 0 {
		m.budget.used.Add(-m.bytes)
	}
	m.m, m.bytes = nil, 0
	if budget != nil {
		m.budget = budget
	}
}
