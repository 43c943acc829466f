package replica

import (
	"context"
	"fmt"
)

// Handed waits until tenant id's detach in flight, if any, has finished
// its final sync, and says whether the bucket now holds every write the
// tenant's closed handle made: nil when it does, an error when the final
// sync failed or was cut short (the backlog waits in the local state).
// A cluster node calls it before it gives a tenant up, so that the next
// owner restores everything; ctx bounds the wait.
func (r *Replicator) Handed(ctx context.Context, id string) error {
	r.mu.Lock()
	dt := r.detaching[id]
	_, attached := r.attached[id]
	r.mu.Unlock()
	if attached {
		return fmt.Errorf("hand off tenant %s: it is still attached (open)", id)
	}
	if dt != nil {
		select {
		case <-dt.done:
		case <-ctx.Done():
			return fmt.Errorf("hand off tenant %s: %w", id, ctx.Err())
		}
	}
	r.mu.Lock()
	_, behind := r.behind[id]
	r.mu.Unlock()
	if behind {
		return fmt.Errorf("hand off tenant %s: its final sync did not reach the bucket", id)
	}
	return r.handedFenced(ctx, id)
}
