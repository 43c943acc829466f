package tenant

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// Config says where a Pool keeps its files and how many it holds open.
type Config struct {
	// Dir is the data directory; it must exist.
	Dir string
	// Migrations is the per-tenant schema (see ParseMigrations).
	Migrations []Migration
	// MaxOpen bounds the open handles (default 512). While every handle is
	// in use the pool may go over it; extras close as they are released.
	MaxOpen int
	// IdleTimeout closes a handle nobody has used for this long (default 5m).
	IdleTimeout time.Duration
	// Durable makes every commit wait for the disk (synchronous=FULL).
	Durable bool
	// Logger receives background failures (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnOpen, if set, is told how long each open of a tenant file took.
	OnOpen func(time.Duration)
	// Verify, if set, is asked whether the file the pool opened (and
	// migrated) at tenant t's path is t's own, before it serves it; an
	// error refuses the file as ErrUnavailable (unless it is ErrBusy or
	// ErrFull) and is logged. It guards against another tenant's file
	// copied to t's path (a restore of the wrong file, two ids mixed up):
	// the app keeps whose the file is in it and checks that here, as
	// cubby's accounts do (auth.VerifyFile). It is not asked of a file
	// being provisioned.
	Verify func(ctx context.Context, db *sqlx.DB, t Tenant) error
	// FileCheckInterval is how often the pool checks that each open
	// handle's file is still the one at its path (default 1s; see
	// CheckFiles).
	FileCheckInterval time.Duration
	// Replicator, if set, replicates each tenant while it is open and
	// restores a missing file from its replica (see Replicator).
	Replicator Replicator
	// Owners, if set, must grant each tenant to this pool before it opens
	// the tenant's file (cluster mode, see Owners); it needs a Replicator.
	Owners Owners
	// IdleCheckpoint is how long a handle used since its WAL was last
	// checkpointed must sit unused, while the pool is nearly full, before
	// the pool checkpoints that WAL in the background (default 1s;
	// negative: never). See checkpointIdle.
	IdleCheckpoint time.Duration
	// MemoBytes bounds what the memos hold in all, open handles' and
	// those kept for closed ones (see Memo; default DefaultMemoBytes;
	// negative: no memos).
	MemoBytes int64
}

// Stats are a pool's counters since it was opened.
type Stats struct {
	Open, Capacity               int
	Hits, Misses, Evictions      uint64
	Provisioned, ProvisionFailed uint64
	Deleted, DeleteFailed        uint64
	Migrated, MigrateFailed      uint64
	// Prepared counts statements prepared on tenant handles, and
	// StatementsClosed those closed again; the difference is what the
	// open handles hold.
	Prepared, StatementsClosed uint64
	// IdleCheckpoints counts WALs the pool checkpointed in the background,
	// and IdleCheckpointsFailed those it could not wholly (retried later).
	IdleCheckpoints, IdleCheckpointsFailed uint64
	// Readers is how many open handles hold a second, read-only connection
	// now (see the pool's readers), ReadersOpened how many the pool has
	// lent, and ReaderCapacity the most it lends at once.
	Readers, ReaderCapacity int
	ReadersOpened           uint64
	// MemoBytes is what the memos hold now, open handles' and kept ones
	// (see Memo).
	MemoBytes int64
	// KeptMemos is how many closed handles' memos the pool keeps now, and
	// KeptHits how many acquires (AcquireLazily) were answered from one
	// without opening the file when made.
	KeptMemos int
	KeptHits  uint64
}

// Pool owns a data directory's tenant files and keeps an LRU of open handles.
type Pool struct {
	dir       string
	directory Routing
	// sqlite is directory when it is routing.db, for what only routing.db
	// does (the crash sweep, walking every tenant); nil otherwise.
	sqlite *Directory
	cfg    Config

	mu      sync.Mutex
	entries map[string]*entry
	lru     *list.List // of *entry, most recently used first
	// opened is when the pool last opened each tenant's file (see
	// Activity): written under mu on an open, which holds mu anyway.
	opened map[string]time.Time
	closed bool
	// fenced, while set, fails every acquire (see Fence). fencedOut holds
	// the entries Fence found in use (or opening) until their last holder
	// lets go, and provisions counts the provisions in flight: see Drained.
	fenced     error
	fencedNow  atomic.Pointer[error] // fenced, for Fenced's lock-free read on every request
	fencedOut  map[*entry]struct{}
	provisions int
	// ops counts the Provision and Delete calls under way, which Close
	// waits for: added to under mu, only while the pool is open.
	ops       sync.WaitGroup
	wg        sync.WaitGroup // background goroutines
	stop      chan struct{}
	promoting bool // a kept memo's tenant is being reopened (see promoteLocked)

	// A handle being closed in the background is in closing until it is
	// shut, and its tenant is not reopened before then: two handles on one
	// file would make SQLite hold the old descriptors until both close.
	closing    map[string]chan struct{}
	closerMu   sync.RWMutex // guards sends on closer against its close
	closer     chan *entry
	closerDone bool

	hits, misses, evictions     atomic.Uint64
	provisioned, provisionFail  atomic.Uint64
	deleted, deleteFail         atomic.Uint64
	migrated, migrateFail       atomic.Uint64
	prepared, stmtsClosed       atomic.Uint64
	checkpoints, checkpointFail atomic.Uint64
	readersOpened               atomic.Uint64
	readersLent                 int // handles holding a lent connection; under mu

	memo *memoBudget // the memos draw on it; nil: none
	// kept holds the memos of closed handles, keptLRU orders them, most
	// recently used first (see keepMemo); both under mu.
	kept     map[string]*keptMemo
	keptLRU  *list.List
	keptHits atomic.Uint64

	hook func(step string) error // failure injection, for tests
}

// entry is one tenant's open handle, shared by all who acquired it.
type entry struct {
	id       string
	db       *sqlx.DB
	stmts    *stmtCache // prepared on db; closed just before it
	err      error
	ready    chan struct{} // closed once the open finished
	refs     int
	lastUsed time.Time
	elem     *list.Element // nil once out of the LRU
	gone     chan struct{} // non-nil while Delete waits for holders
	file     os.FileInfo   // the file at the tenant's path when it opened
	lost     bool          // that file left its path: acquires fail
	// replicated says the Replicator attached the tenant; the handle's
	// closer detaches it.
	replicated bool
	// used says a request has held the handle since the pool last
	// checkpointed its WAL (see checkpointIdle).
	used bool
	// reader is the second, read-only connection the pool lent the
	// handle, if any (see lendReader); uses counts the acquires the
	// handle has served.
	reader atomic.Pointer[reader]
	uses   int
	// memo is what the app keeps of the tenant in memory (Store.Memo);
	// nil until the handle opens.
	memo *Memo
}

// NewPool starts a pool over dir's tenant files, routed by d: a
// *Directory (routing.db) or another Routing (cluster mode). The caller
// keeps ownership of d and closes it after the pool.
func NewPool(d Routing, cfg Config) (*Pool, error) {
	if cfg.MaxOpen <= 0 {
		cfg.MaxOpen = 512
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FileCheckInterval <= 0 {
		cfg.FileCheckInterval = time.Second
	}
	if cfg.IdleCheckpoint == 0 {
		cfg.IdleCheckpoint = time.Second
	}
	if len(cfg.Migrations) == 0 {
		return nil, errors.New("tenant: no migrations given")
	}
	for _, m := range cfg.Migrations {
		if err := checkMigrationText(m); err != nil {
			return nil, fmt.Errorf("tenant: %w", err)
		}
	}
	// The pool's own copy: a caller editing its slice later changes
	// nothing the pool has checked.
	cfg.Migrations = slices.Clone(cfg.Migrations)
	if cfg.Dir == "" {
		// Not the working directory, which would be filled by accident.
		return nil, errors.New("tenant: no data directory given (Config.Dir)")
	}
	if err := CheckFileLimit(cfg.MaxOpen); err != nil {
		return nil, err
	}
	for _, sub := range []string{"tenants", "tmp", "orphans"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("make %s folder: %w", sub, err)
		}
	}
	p := &Pool{
		dir: cfg.Dir, directory: d, cfg: cfg,
		entries:   make(map[string]*entry),
		opened:    make(map[string]time.Time),
		fencedOut: make(map[*entry]struct{}),
		closing:   make(map[string]chan struct{}),
		lru:       list.New(),
		kept:      make(map[string]*keptMemo),
		keptLRU:   list.New(),
		closer:    make(chan *entry), // unbuffered: see closeAsync
		stop:      make(chan struct{}),
	}
	p.sqlite, _ = d.(*Directory)
	switch {
	case cfg.MemoBytes == 0:
		p.memo = &memoBudget{max: DefaultMemoBytes}
	case cfg.MemoBytes > 0:
		p.memo = &memoBudget{max: cfg.MemoBytes}
	}
	if p.memo != nil {
		p.memo.reclaim = p.reclaimMemo
	}
	p.wg.Add(2)
	go p.closeLoop()
	go p.idleLoop()
	return p, nil
}

// Directory returns routing.db, or nil when the pool is routed by another
// Routing (see Routing, for what every pool has).
func (p *Pool) Directory() *Directory { return p.sqlite }

// Routing returns the directory the pool is routed by.
func (p *Pool) Routing() Routing { return p.directory }

// SchemaVersion is the newest migration this pool applies.
func (p *Pool) SchemaVersion() int { return len(p.cfg.Migrations) }

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	open, readers, kept := len(p.entries), p.readersLent, len(p.kept)
	p.mu.Unlock()
	return Stats{
		Open: open, Capacity: p.cfg.MaxOpen,
		Hits: p.hits.Load(), Misses: p.misses.Load(), Evictions: p.evictions.Load(),
		Provisioned: p.provisioned.Load(), ProvisionFailed: p.provisionFail.Load(),
		Deleted: p.deleted.Load(), DeleteFailed: p.deleteFail.Load(),
		Migrated: p.migrated.Load(), MigrateFailed: p.migrateFail.Load(),
		Prepared: p.prepared.Load(), StatementsClosed: p.stmtsClosed.Load(),
		IdleCheckpoints: p.checkpoints.Load(), IdleCheckpointsFailed: p.checkpointFail.Load(),
		Readers: readers, ReaderCapacity: readerBudget(p.cfg.MaxOpen), ReadersOpened: p.readersOpened.Load(),
		MemoBytes: p.memoUsed(), KeptMemos: kept, KeptHits: p.keptHits.Load(),
	}
}

// Acquire returns the Store of tenant id and a release function that the
// caller must call exactly once when done (defer it on the next line). The
// Store is valid until release. A tenant that does not exist, or is still
// being provisioned, is ErrNotFound; one whose file cannot be served is
// ErrUnavailable.
func (p *Pool) Acquire(ctx context.Context, id string) (*Store, func(), error) {
	return p.acquire(ctx, id, false)
}

// acquire is Acquire, or AcquireLazily when lazy is set.
func (p *Pool) acquire(ctx context.Context, id string, lazy bool) (*Store, func(), error) {
	if !validID(id) {
		return nil, nil, ErrNotFound
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, nil, ErrClosed
	}
	if p.fenced != nil {
		p.mu.Unlock()
		return nil, nil, p.fenced
	}
	e, ok := p.entries[id]
	if ok && e.gone != nil {
		p.mu.Unlock()
		return nil, nil, ErrNotFound
	}
	if ok && e.lost {
		p.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: tenant %s: its file left %s", ErrUnavailable, id, p.tenantPath(id))
	}
	if ok {
		e.refs++
		e.uses++
		p.lru.MoveToFront(e.elem)
		p.mu.Unlock()
		p.hits.Add(1)
		return p.await(ctx, e)
	}
	if k := p.kept[id]; lazy && k != nil && p.closing[id] == nil {
		p.keptLRU.MoveToFront(k.elem)
		p.promoteLocked(k)
		p.mu.Unlock()
		if s := p.lazyStore(k); s != nil {
			return s, s.lazy.end, nil
		}
		return p.acquire(ctx, id, false)
	}
	e = &entry{id: id, ready: make(chan struct{}), refs: 1, uses: 1}
	e.elem = p.lru.PushFront(e)
	p.entries[id] = e
	// Make room now rather than at the next release, so that no acquire or
	// release ever retires more than one handle: idle handles beyond
	// capacity would otherwise pile up until a release retired them all.
	evicted := p.evictLocked()
	shut := p.closing[id]
	p.mu.Unlock()
	p.closeAsync(evicted)
	p.misses.Add(1)
	if shut != nil {
		<-shut
	}
	memo := p.takeKept(id) // after the last handle's close kept it

	// The open is shared by everyone who arrives meanwhile, so one caller
	// giving up must not fail it for the others.
	db, file, replicated, err := p.openOwned(context.WithoutCancel(ctx), id)
	p.mu.Lock()
	if err == nil && p.fenced != nil {
		// Fenced while opening (checked under the lock Fence takes): this
		// handle must not serve.
		p.mu.Unlock()
		p.closeNow(&entry{id: id, db: db, stmts: newStmtCache(db, &p.prepared, &p.stmtsClosed), replicated: replicated})
		db, file, err, replicated = nil, nil, p.fenced, false
		p.mu.Lock()
	}
	e.db, e.file, e.err, e.replicated = db, file, err, replicated
	if db != nil {
		e.stmts = newStmtCache(db, &p.prepared, &p.stmtsClosed)
		e.memo = memo
		p.opened[id] = p.cfg.Now()
	}
	if err != nil {
		p.dropLocked(e)
	}
	close(e.ready)
	p.mu.Unlock()
	if err != nil {
		memo.close()
	}
	return p.await(ctx, e)
}

// await waits for e's open and hands out its Store.
func (p *Pool) await(ctx context.Context, e *entry) (*Store, func(), error) {
	select {
	case <-e.ready:
	default:
		// Still opening. Asked only now: a request's context makes its
		// Done channel on the first call, which a hot tenant's acquire
		// need not pay for.
		select {
		case <-e.ready:
		case <-ctx.Done():
			p.release(e)
			return nil, nil, ctx.Err()
		}
	}
	if e.err != nil {
		p.release(e)
		return nil, nil, e.err
	}
	s := &Store{id: e.id, db: e.db, stmts: e.stmts, pool: p, e: e}
	return s, s.release, nil
}

func (p *Pool) release(e *entry) { p.unhold(e, true) }

// memoUsed is what the memos hold now, open handles' and kept ones.
func (p *Pool) memoUsed() int64 {
	if p.memo == nil {
		return 0
	}
	return p.memo.used.Load()
}

// unhold drops one reference to e; touch marks e as just used, which the
// pool's own background work does not.
func (p *Pool) unhold(e *entry, touch bool) {
	p.mu.Lock()
	e.refs--
	if touch {
		e.lastUsed = p.cfg.Now()
		e.used = true
	}
	var toClose []*entry
	if e.refs == 0 {
		delete(p.fencedOut, e) // its handle, if any, is retired below
		switch {
		case e.gone != nil:
			close(e.gone)
		case e.elem == nil && e.db != nil:
			// The pool closed, or the file left its path, while in use.
			toClose = append(toClose, p.retireLocked(e))
		default:
			toClose = p.evictLocked()
		}
	}
	p.mu.Unlock()
	p.closeAsync(toClose)
}

// idleLocked is whether e is, in an open pool, its tenant's current entry,
// neither being deleted nor retired, and held by no one: the pool's own
// background work (checkpoints) may hold it then.
func (p *Pool) idleLocked(e *entry) bool {
	return !p.closed && p.entries[e.id] == e && e.gone == nil && !e.lost && e.refs == 0
}

// dropLocked takes e out of the map and the LRU.
func (p *Pool) dropLocked(e *entry) {
	if p.entries[e.id] == e && e.gone == nil { // Delete removes its own
		delete(p.entries, e.id)
	}
	if e.elem != nil {
		p.lru.Remove(e.elem)
		e.elem = nil
	}
}

// evictLocked removes least recently used idle entries until the pool is
// within capacity, and returns their handles for closing.
func (p *Pool) evictLocked() []*entry {
	var out []*entry
	for el := p.lru.Back(); el != nil && p.lru.Len() > p.cfg.MaxOpen; {
		e := el.Value.(*entry)
		prev := el.Prev()
		if e.refs == 0 {
			out = append(out, p.retireLocked(e))
			p.evictions.Add(1)
		}
		el = prev
	}
	return out
}

// closeAsync hands handles to the closer goroutine: closing checkpoints the
// WAL, which should not hold up a request. But the closer takes a handle
// only when it is free; when it is busy the caller closes the handle
// itself. A queue would let retired handles, and their descriptors, pile up
// without bound when closes are slower than evictions, and MaxOpen would
// bound nothing.
func (p *Pool) closeAsync(es []*entry) {
	for _, e := range es {
		if !p.handOff(e) {
			p.shut(e)
		}
	}
}

// handOff gives e to the closer goroutine if it is waiting for work.
func (p *Pool) handOff(e *entry) bool {
	p.closerMu.RLock()
	defer p.closerMu.RUnlock()
	if p.closerDone {
		return false // the pool is closed: no one to hand it to
	}
	select {
	case p.closer <- e:
		return true
	default:
		return false
	}
}

// retireLocked takes e out of the pool and marks its tenant as closing.
func (p *Pool) retireLocked(e *entry) *entry {
	p.dropLocked(e)
	if p.closing[e.id] == nil {
		p.closing[e.id] = make(chan struct{})
	}
	return e
}

// shut closes a retired entry's handle and lets its tenant be reopened. A
// failure to close is logged: no caller is waiting for it.
func (p *Pool) shut(e *entry) {
	if err := p.shutErr(e); err != nil {
		p.cfg.Logger.Warn("close tenant handle", "err", err)
	}
}

// shutErr is shut for a caller that reports the failure itself.
func (p *Pool) shutErr(e *entry) error {
	err := p.closeHandle(e)
	p.detach(e) // after the handle: Litestream's final sync sees every write
	p.releaseTenant(e.id)
	if err == nil {
		p.keepMemo(e) // before the tenant may open again
	} else {
		e.memo.close()
	}
	p.mu.Lock()
	if ch := p.closing[e.id]; ch != nil {
		delete(p.closing, e.id)
		close(ch)
	}
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("close tenant %s: %w", e.id, err)
	}
	return nil
}

// closeNow closes e's handle, logging a failure.
func (p *Pool) closeNow(e *entry) {
	if err := p.closeHandle(e); err != nil {
		p.cfg.Logger.Warn("close tenant handle", "err", err)
	}
	e.memo.close()
	p.detach(e)
}

// closeHandle closes e's lent connection, then its statements and its
// own connection. Its memo is the caller's to keep or close.
func (p *Pool) closeHandle(e *entry) error {
	return errors.Join(p.closeReader(e), e.stmts.close(), e.db.Close())
}

func (p *Pool) closeLoop() {
	defer p.wg.Done()
	for e := range p.closer {
		p.shut(e)
	}
}

// idleLoop closes idle handles, checkpoints the WALs of handles next in line
// for eviction, and, about once a second, retires handles whose file has
// left its path.
func (p *Pool) idleLoop() {
	defer p.wg.Done()
	idle := time.NewTicker(max(p.cfg.IdleTimeout/4, 10*time.Millisecond))
	defer idle.Stop()
	files := time.NewTicker(p.cfg.FileCheckInterval)
	defer files.Stop()
	var checkpoints <-chan time.Time // nil, never ready, when they are off
	if p.cfg.IdleCheckpoint > 0 {
		t := time.NewTicker(max(p.cfg.IdleCheckpoint/2, time.Millisecond))
		defer t.Stop()
		checkpoints = t.C
	}
	for {
		select {
		case <-p.stop:
			return
		case <-idle.C:
			p.closeAsync(p.sweepIdle())
		case <-files.C:
			p.CheckFiles()
		case <-checkpoints:
			p.checkpointIdle()
		}
	}
}

// sweepIdle removes entries unused for longer than IdleTimeout.
func (p *Pool) sweepIdle() []*entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	cutoff := p.cfg.Now().Add(-p.cfg.IdleTimeout)
	var out []*entry
	for el := p.lru.Back(); el != nil; {
		e := el.Value.(*entry)
		prev := el.Prev()
		if e.refs == 0 && e.lastUsed.Before(cutoff) {
			out = append(out, p.retireLocked(e))
		}
		el = prev
	}
	return out
}

// Close closes every idle handle (checkpointing its WAL) and stops the
// background work. It first waits for the Provision and Delete calls under
// way, so that none is left half done: a Delete still waiting for its
// tenant's holders gives up (ErrClosed) and leaves the tenant as it was.
// Handles still held close when released. Acquire, Provision and Delete
// fail with ErrClosed afterwards. It returns every failure to close an
// idle handle, joined; a second call does nothing and returns nil. An
// InitFunc or a Replicator callback must not call it: it would wait for
// the Provision it runs in.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop) // also ends the waits of deletes for holders
	p.ops.Wait()

	p.mu.Lock()
	var toClose []*entry
	for _, e := range p.entries {
		if e.elem != nil {
			p.lru.Remove(e.elem)
			e.elem = nil
		}
		if e.refs == 0 && e.db != nil && e.gone == nil {
			toClose = append(toClose, p.retireLocked(e))
		}
	}
	clear(p.entries)
	kept := p.trimKeptLocked(0, 0)
	p.mu.Unlock()
	closeKept(kept)
	// Close the idle handles here rather than through the closer, so that
	// what goes wrong reaches the caller.
	var errs []error
	for _, e := range toClose {
		errs = append(errs, p.shutErr(e))
	}
	p.closerMu.Lock()
	p.closerDone = true
	close(p.closer) // holders still out close their handle themselves
	p.closerMu.Unlock()
	p.wg.Wait()
	return errors.Join(errs...)
}
