package replica

import (
	"context"
	"fmt"
)

// Stats are a Replicator's counters since it opened.
type Stats struct {
	// Attached is how many databases are replicated now.
	Attached int
	// Requests and Failures count calls to S3 (a listing may page).
	Requests, Failures uint64
	// BytesUp and BytesDown are what uploads and downloads carried.
	BytesUp, BytesDown uint64
	// Uploads and UploadFailures count transaction files sent.
	Uploads, UploadFailures uint64
	// Restores, RestoreFailures and RestoresWithoutReplica count restores
	// on open.
	Restores, RestoreFailures, RestoresWithoutReplica uint64
	// FinalSyncFailures counts detaches whose final sync failed.
	FinalSyncFailures uint64
	// Superseded counts replica paths of earlier claims deleted once a
	// new claim's replica was recorded as current (in a cluster).
	Superseded uint64
	// WriterLeaseFailures counts refreshes and releases of the writer
	// lease that S3 failed (writer.go).
	WriterLeaseFailures uint64
}

// Stats returns the Replicator's counters.
func (r *Replicator) Stats() Stats {
	s := r.stats
	return Stats{
		Attached: len(r.snapshot()),
		Requests: s.requests.Load(), Failures: s.failures.Load(),
		BytesUp: s.bytesUp.Load(), BytesDown: s.bytesDown.Load(),
		Uploads: s.uploads.Load(), UploadFailures: s.uploadFails.Load(),
		Restores: s.restores.Load(), RestoreFailures: s.restoreFails.Load(), RestoresWithoutReplica: s.restoreNone.Load(),
		FinalSyncFailures: s.detachFails.Load(), Superseded: s.superseded.Load(),
		WriterLeaseFailures: s.leaseFails.Load(),
	}
}

// Sync uploads what tenant id has committed and waits for it (in a
// cluster, also for the claim's replica to be recorded as the current one,
// so that the next owner restores it); it returns the transaction id now in
// the bucket. The tenant must be attached.
func (r *Replicator) Sync(ctx context.Context, id string) (uint64, error) {
	r.mu.Lock()
	a := r.attached[id]
	r.mu.Unlock()
	if a == nil {
		return 0, fmt.Errorf("sync tenant %s: not replicated now", id)
	}
	res, err := r.store.SyncDB(ctx, a.db.Path(), true)
	if err != nil {
		return 0, fmt.Errorf("sync tenant %s: %w", id, err)
	}
	// In a cluster, what is synced counts only once the next owner would
	// restore it: the claim's replica must be the recorded current one.
	r.mu.Lock()
	st := r.stamps[id]
	uploaded := r.fence != nil && st != nil && st.uploaded
	r.mu.Unlock()
	if uploaded {
		if err := r.settle(ctx, id, st); err != nil {
			return 0, fmt.Errorf("sync tenant %s: %w", id, err)
		}
	}
	return res.ReplicatedTXID, nil
}

// Settle waits until no detach or backlog shipment is in flight, or ctx
// ends; tests and benchmarks use it to count what is left running.
func (r *Replicator) Settle(ctx context.Context) error {
	for {
		r.mu.Lock()
		var ch chan struct{}
		for _, dt := range r.detaching {
			ch = dt.done
			break
		}
		r.mu.Unlock()
		if ch == nil {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
