package tenant

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
)

// A closed handle's memo is kept while the tenant's file is exactly as the
// handle left it: the pool stamps the file and its -wal (which tenant
// connections keep) once the handle is closed, and a memo is used again
// only while both stamps still match. Nothing but this pool's handles
// writes a tenant file while the pool serves it (serve's lock keeps cubby's
// other writers out); a file another program changed, replaced, removed or
// restored under the pool no longer matches, and the memo is dropped.
//
// A tenant has at most one live memo at a time: the kept one, which its
// next handle takes up (reset first if the file changed), or its open
// handle's. A memo leaves the pool any other way (count, bytes, Delete,
// Close) only closed, so that a Store still holding it finds nothing in it
// and keeps nothing.

// keptMemo is the memo of tenant id's closed handle.
type keptMemo struct {
	id   string
	memo *Memo
	file fileStamp // the database file once the handle closed
	wal  fileStamp // its -wal
	elem *list.Element
	hits int // reads it answered, under the pool's mu (see promoteAfter)
}

// promoteAfter is how many reads a kept memo answers before its tenant's
// file is opened again, in the background: each such read pays two stats
// (p.current), which an open handle does not, so a tenant that turns hot
// after its handle was evicted (by a burst of other users' writes) gets
// its handle back instead of paying them for good. Many tenants read in
// turn over too few handles (the spread) each reopen once every
// promoteAfter reads of theirs: an open (~1 ms) spread over that many
// reads of ~60 µs each.
const promoteAfter = 256

// promoteLocked counts a read k answered and, every promoteAfter reads,
// starts reopening k's tenant unless a reopen is under way already (one
// at a time). The caller holds mu.
func (p *Pool) promoteLocked(k *keptMemo) {
	k.hits++
	if k.hits%promoteAfter != 0 || p.promoting || p.closed {
		return
	}
	p.promoting = true
	p.wg.Add(1)
	go p.promote(k.id)
}

// promote opens tenant id's file, which takes up its kept memo, and
// leaves the handle open and idle, at the front of the LRU.
func (p *Pool) promote(id string) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		p.promoting = false
		p.mu.Unlock()
	}()
	if _, release, err := p.Acquire(context.Background(), id); err == nil {
		release()
	}
}

// fileStamp is what a stat says of a file, to tell it changed.
type fileStamp struct {
	fi os.FileInfo // nil: there was no such file
}

// stampOf stamps the file at path; a file that is not there stamps as
// missing, and any other failure to stat is an error.
func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileStamp{}, nil
	}
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi}, nil
}

// same is whether a and b stamp the same file, unchanged: both missing, or
// one file (device and inode) of one size and modification time.
func (a fileStamp) same(b fileStamp) bool {
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil
	}
	return os.SameFile(a.fi, b.fi) && a.fi.Size() == b.fi.Size() && a.fi.ModTime().Equal(b.fi.ModTime())
}

// stampTenant stamps tenant id's database file and its -wal.
func (p *Pool) stampTenant(id string) (file, wal fileStamp, err error) {
	path := p.tenantPath(id)
	if file, err = stampOf(path); err != nil || file.fi == nil {
		return fileStamp{}, fileStamp{}, errors.Join(err, fs.ErrNotExist)
	}
	if wal, err = stampOf(path + "-wal"); err != nil {
		return fileStamp{}, fileStamp{}, err
	}
	return file, wal, nil
}

// current is whether k's tenant file and -wal are still as k stamped them.
func (p *Pool) current(k *keptMemo) bool {
	file, wal, err := p.stampTenant(k.id)
	return err == nil && k.file.same(file) && k.wal.same(wal)
}

// keptLimit is how many closed handles' memos a pool keeps: four times the
// handles it holds open, at least 64.
func (p *Pool) keptLimit() int { return max(4*p.cfg.MaxOpen, 64) }

// keepMemo keeps the memo of e, whose handle closed on its own (eviction
// or idle close) without error, if there is anything in it and the pool
// may: not when it is closed, fenced, or a cluster node's (the tenant may
// be written on another node once this one lets it go). Anything it does
// not keep it closes. It runs before the tenant may be reopened.
func (p *Pool) keepMemo(e *entry) {
	m := e.memo
	if m == nil {
		return
	}
	if p.cfg.Owners != nil || m.empty() {
		m.close()
		return
	}
	file, wal, err := p.stampTenant(e.id)
	p.mu.Lock()
	next := p.entries[e.id] // an acquire waiting for this close, or a Delete
	if err != nil || p.closed || p.fenced != nil || e.lost || e.gone != nil || (next != nil && next.gone != nil) {
		p.mu.Unlock()
		m.close()
		return
	}
	if old := p.kept[e.id]; old != nil { // cannot be: one live memo a tenant
		p.dropKeptLocked(old)
		defer old.memo.close()
	}
	k := &keptMemo{id: e.id, memo: m, file: file, wal: wal}
	k.elem = p.keptLRU.PushFront(k)
	p.kept[e.id] = k
	over := p.trimKeptLocked(p.keptLimit(), 0)
	p.mu.Unlock()
	closeKept(over)
}

// trimKeptLocked takes kept memos out, oldest first, until at most limit
// are left and need more bytes would fit the budget, and returns them for
// closing (closeKept, once p.mu is released).
func (p *Pool) trimKeptLocked(limit int, need int64) []*keptMemo {
	var out []*keptMemo
	freed := int64(0)
	for el := p.keptLRU.Back(); el != nil; {
		k := el.Value.(*keptMemo)
		prev := el.Prev()
		if p.keptLRU.Len() <= limit && (need <= 0 || p.memo.used.Load()-freed+need <= p.memo.max) {
			break
		}
		p.dropKeptLocked(k)
		freed += k.memo.size()
		out = append(out, k)
		el = prev
	}
	return out
}

// dropKeptLocked takes k out of the kept memos.
func (p *Pool) dropKeptLocked(k *keptMemo) {
	if p.kept[k.id] == k {
		delete(p.kept, k.id)
	}
	if k.elem != nil {
		p.keptLRU.Remove(k.elem)
		k.elem = nil
	}
}

// closeKept closes memos taken out of the kept ones.
func closeKept(ks []*keptMemo) {
	for _, k := range ks {
		k.memo.close()
	}
}

// reclaimMemo drops kept memos, oldest first, until need more bytes fit
// the budget (the memo budget's reclaim), and says whether it dropped any.
func (p *Pool) reclaimMemo(need int64) bool {
	p.mu.Lock()
	out := p.trimKeptLocked(p.keptLimit(), need)
	p.mu.Unlock()
	closeKept(out)
	return len(out) > 0
}

// forgetKept drops tenant id's kept memo, if any (a Delete, a file that
// changed).
func (p *Pool) forgetKept(id string) {
	p.mu.Lock()
	k := p.kept[id]
	if k != nil {
		p.dropKeptLocked(k)
	}
	p.mu.Unlock()
	if k != nil {
		k.memo.close()
	}
}

// takeKept hands tenant id's kept memo, if any, to the handle about to
// open: as it is if the file is still as the last handle left it, and
// emptied (a new generation) if not. Without one the handle starts a
// memo of its own.
func (p *Pool) takeKept(id string) *Memo {
	p.mu.Lock()
	k := p.kept[id]
	if k != nil {
		p.dropKeptLocked(k)
	}
	p.mu.Unlock()
	if k == nil {
		return newMemo(p.memo)
	}
	if !p.current(k) {
		k.memo.Forget()
	}
	return k.memo
}

// AcquireLazily is Acquire for a request that may be answered from the
// tenant's memo alone, such as a read the app keeps (see Memo). When the
// tenant has no open handle but the pool kept its last one's memo, and the
// file is still as that handle left it, the Store it returns opens the
// file only if the request runs a statement: the memo is answered from
// without a file open. Until it opens the file such a Store holds nothing,
// so a Delete does not wait for it, and its first statement may fail as
// Acquire does (ErrNotFound for a tenant deleted meanwhile). Otherwise it
// is Acquire.
func (p *Pool) AcquireLazily(ctx context.Context, id string) (*Store, func(), error) {
	return p.acquire(ctx, id, true)
}

// lazyStore returns a Store that answers from k until its first statement,
// or nil, having dropped k, if k's file changed.
func (p *Pool) lazyStore(k *keptMemo) *Store {
	if !p.current(k) {
		p.forgetKept(k.id) // the next handle starts afresh
		return nil
	}
	p.keptHits.Add(1)
	return &Store{id: k.id, pool: p, lazy: &lazyOpen{memo: k.memo}}
}

// lazyOpen is the state of a Store from AcquireLazily that has not yet
// opened its tenant's file (or has, on its first statement).
type lazyOpen struct {
	memo    *Memo // the kept memo the Store answers Memo with
	mu      sync.Mutex
	opened  *Store // the Store Acquire gave on the first statement
	release func()
	done    bool        // released: a statement after it must not open the file
	wrote   atomic.Bool // a statement that may write ran
}

// open acquires the tenant for s's first statement.
func (s *Store) open(ctx context.Context) error {
	l := s.lazy
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done { // opened or not: the handle it opened is let go
		return usedAfterRelease(s.id)
	}
	if l.opened != nil {
		return nil
	}
	o, release, err := s.pool.Acquire(ctx, s.id)
	if err != nil {
		return err
	}
	l.opened, l.release = o, release
	s.db, s.stmts, s.e = o.db, o.stmts, o.e
	return nil
}

// ready opens a lazy Store's file before a statement, noting one that
// may write; a Store from Acquire is always ready. A Store released, or
// inside its own Tx, runs nothing: its statement would run on a handle
// it no longer holds, or wait for ever for the connection the Tx holds.
func (s *Store) ready(ctx context.Context, query string) error {
	if s.inTx.Load() > 0 {
		return fmt.Errorf("tenant %s: %w", s.id, errStoreInTx)
	}
	if s.lazy == nil {
		if s.released.Load() {
			return usedAfterRelease(s.id)
		}
		return nil
	}
	if query == "" || !readOnlySQL(query) {
		s.lazy.wrote.Store(true)
	}
	return s.open(ctx)
}

// end is a lazy Store's release. The app forgot what it keeps after a
// write through the memo the Store answered with; if the handle the Store
// opened has another (that memo left the pool meanwhile, closed), the
// handle's is forgotten here, after the write.
func (l *lazyOpen) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	l.done = true
	if l.opened == nil {
		return
	}
	if m := l.opened.e.memo; m != l.memo && l.wrote.Load() {
		m.Forget()
	}
	l.release()
}

// usedAfterRelease is a statement on a Store after its release: a bug in
// the caller, who kept the Store past it.
func usedAfterRelease(id string) error {
	return fmt.Errorf("%w: tenant %s: a statement on a Store after its release", ErrUnavailable, id)
}

// errStoreInTx is a statement on a Store inside its own Tx (other than
// through TxExecContext): it would wait for the connection the Tx holds,
// for ever.
var errStoreInTx = errors.New("tenant: a statement on the Store inside its own Tx: run it on tx (or through TxExecContext)")
