package tenant

import (
	"context"
	"fmt"
	"time"
)

// Closing a handle checkpoints its WAL and cuts the file back to
// journal_size_limit, and an eviction closes the handle in whichever request
// needed the slot (when the closer goroutine is busy, see closeAsync): after
// 300 writes that close took ~10 ms, ~0.1 ms with nothing written, and
// right after a write burst every miss paid it (BENCHMARKS.md, "fifth
// pass"). So while the pool is nearly full, the handles next in line for
// eviction have their WAL checkpointed in the background once nobody has
// used them for IdleCheckpoint.

// maxIdleCheckpoints bounds the checkpoints of one round, so that the idle
// loop's other work (idle handles, file checks) waits for at most that many.
const maxIdleCheckpoints = 16

// checkpointIdle checkpoints the WAL of up to maxIdleCheckpoints handles,
// least recently used first, that a request used since their WAL was last
// checkpointed and that have sat unused for IdleCheckpoint — only while the
// pool holds at least three quarters of MaxOpen, when evictions are near;
// a pool with room to spare evicts nothing, and its handles checkpoint as
// SQLite's autocheckpoint or their close decides. Each handle is held as a
// request holds it while its WAL is checkpointed, so it is neither evicted
// nor closed meanwhile, and a request for it waits. Replicated handles are
// left to Litestream, which checkpoints them itself.
func (p *Pool) checkpointIdle() {
	p.mu.Lock()
	if p.closed || p.fenced != nil || p.lru.Len() < p.cfg.MaxOpen-p.cfg.MaxOpen/4 {
		p.mu.Unlock()
		return
	}
	var todo []*entry
	for el := p.lru.Back(); el != nil && len(todo) < maxIdleCheckpoints; el = el.Prev() {
		if e := el.Value.(*entry); p.idleAndUsedLocked(e) {
			todo = append(todo, e)
		}
	}
	p.mu.Unlock()
	for _, e := range todo {
		p.mu.Lock()
		ok := p.fenced == nil && p.idleAndUsedLocked(e) // still, after the ones before it
		if ok {
			e.refs++
			e.used = false
		}
		p.mu.Unlock()
		if !ok {
			continue
		}
		if err := p.checkpointWAL(e); err != nil {
			p.checkpointFail.Add(1)
			p.cfg.Logger.Debug("checkpoint idle tenant", "tenant", e.id, "err", err)
			p.mu.Lock()
			e.used = true // try again in a later round
			p.mu.Unlock()
		} else {
			p.checkpoints.Add(1)
		}
		p.unhold(e, false)
	}
}

// idleAndUsedLocked is whether e is an idle open handle in the LRU (see
// idleLocked), not replicated, used by a request since its WAL was last
// checkpointed and unused for IdleCheckpoint since.
func (p *Pool) idleAndUsedLocked(e *entry) bool {
	return p.idleLocked(e) && e.elem != nil && e.used && e.db != nil && e.err == nil && !e.replicated &&
		e.lastUsed.Before(p.cfg.Now().Add(-p.cfg.IdleCheckpoint))
}

// checkpointWAL checkpoints e's WAL into its database file, passively: it
// copies what no reader still needs and waits for no one. Copying every
// frame counts as done; fewer (a reader in another process, a backup beside
// the server, still needs older frames) is an error, tried again later.
func (p *Pool) checkpointWAL(e *entry) error {
	// The deadline bounds the wait for the handle's connection, should a
	// request have taken it meanwhile; the copy itself takes milliseconds.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var busy, log, done int
	if err := e.db.QueryRowxContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		return classify(err)
	}
	if busy != 0 || done < log {
		return fmt.Errorf("tenant %s: %d of %d WAL frames checkpointed", e.id, done, log)
	}
	return nil
}
