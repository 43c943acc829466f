package replica

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// A tenant closed while S3 was down is detached without its final sync:
// its last transactions wait in Litestream's local state. It is "behind",
// and r ships its backlog once S3 answers again (at the next compaction
// tick, or at Close), unless the pool reopens it first, which ships it
// the ordinary way.

// markBehind remembers that tenant id at path closed with a backlog.
func (r *Replicator) markBehind(id, path string) {
	if id == routingKey {
		return // routing.db is attached for the whole run
	}
	r.mu.Lock()
	r.behind[id] = path
	r.mu.Unlock()
}

// catchUp ships the backlog of every tenant closed with one, at most jobs
// at once; a tenant the pool has reopened meanwhile is left to it.
func (r *Replicator) catchUp(ctx context.Context, jobs int) error {
	r.mu.Lock()
	todo := make(map[string]string, len(r.behind))
	for id, path := range r.behind {
		todo[id] = path
	}
	r.mu.Unlock()
	sem := make(chan struct{}, jobs)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for id, path := range todo {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.catchUpOne(ctx, id, path); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("ship the backlog of %d closed tenant(s): %w", len(errs), errs[0])
	}
	return nil
}

// catchUpOne attaches a closed tenant with a backlog just long enough for
// a final sync. Meanwhile it counts as being detached, so a reopen by the
// pool cuts it short and ships the backlog itself.
func (r *Replicator) catchUpOne(ctx context.Context, id, path string) error {
	r.mu.Lock()
	if r.held || r.attached[id] != nil || r.detaching[id] != nil || r.behind[id] != path {
		r.mu.Unlock()
		return nil // reopened (it ships itself), or being handled
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		delete(r.behind, id) // deleted or lost: nothing to ship from here
		r.mu.Unlock()
		return nil
	}
	key, st := r.target.tenantKey(id), r.stamps[id]
	if st != nil {
		key = r.target.tokenKey(id, st.token) // the claim the backlog was made under
	}
	dctx, end := r.beginDetach(id)
	r.mu.Unlock()
	defer end()
	stop := context.AfterFunc(ctx, func() { r.abortDetach(id) })
	defer stop()
	a, err := r.open(dctx, id, path, key, r.onUpload(id, st))
	if err != nil {
		return err
	}
	if err := r.detachWith(dctx, a, true); err != nil {
		return err
	}
	r.mu.Lock()
	if r.behind[id] == path {
		delete(r.behind, id)
	}
	r.mu.Unlock()
	return nil
}

// abortDetach cuts name's detach in flight short, if any.
func (r *Replicator) abortDetach(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if dt := r.detaching[name]; dt != nil {
		dt.abort()
	}
}
