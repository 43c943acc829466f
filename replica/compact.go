package replica

import (
	"context"
	"errors"
	"time"

	"github.com/benbjohnson/litestream"
)

// L0 retention and snapshots run less often than level-1 compaction: an
// idle tenant then makes no request between them.
const (
	l0RetentionEvery = 5 * time.Minute
	snapshotEvery    = 24 * time.Hour
)

// compactLoop compacts the attached databases' uploads into level 1 every
// CompactInterval, removes level-0 files older than the retention every
// five minutes, and takes a snapshot a day. It holds each attachment's lock
// while it works on it, so a detach waits for it.
func (r *Replicator) compactLoop() {
	defer r.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-r.stop
		cancel()
	}()
	tick := time.NewTicker(r.cfg.CompactInterval)
	defer tick.Stop()
	var lastL0, lastSnap time.Time
	now := time.Now()
	lastL0, lastSnap = now, now
	for {
		select {
		case <-r.stop:
			return
		case now = <-tick.C:
		}
		l0 := now.Sub(lastL0) >= l0RetentionEvery
		snap := now.Sub(lastSnap) >= snapshotEvery
		if l0 {
			lastL0 = now
		}
		if snap {
			lastSnap = now
		}
		for _, a := range r.snapshot() {
			r.maintain(ctx, a, l0, snap)
		}
		if r.stats.down.Load() {
			// Probe: nothing else may call S3 while every tenant is idle.
			_, _ = r.hasReplica(ctx, r.target.routingPath())
		}
		if !r.stats.down.Load() {
			if err := r.catchUp(ctx, 4); err != nil && ctx.Err() == nil {
				r.log.Warn("S3 is back but a closed tenant's backlog did not ship; retrying at the next tick", "err", err)
			}
		}
	}
}

// snapshot lists the attachments.
func (r *Replicator) snapshot() []*attachment {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*attachment, 0, len(r.attached))
	for _, a := range r.attached {
		out = append(out, a)
	}
	return out
}

// maintain compacts one attachment, unless it was detached meanwhile.
func (r *Replicator) maintain(ctx context.Context, a *attachment, l0, snap bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.detached {
		return
	}
	lvl := &litestream.CompactionLevel{Level: 1, Interval: r.cfg.CompactInterval}
	if _, err := r.store.CompactDB(ctx, a.db, lvl); err != nil && !benign(err) && ctx.Err() == nil {
		r.log.Warn("compact replica", "db", a.id, "err", err)
	}
	if l0 {
		if err := a.db.EnforceL0RetentionByTime(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("enforce replica retention", "db", a.id, "err", err)
		}
	}
	if snap {
		if _, err := r.store.CompactDB(ctx, a.db, r.store.SnapshotLevel()); err != nil && !benign(err) && ctx.Err() == nil {
			r.log.Warn("snapshot replica", "db", a.id, "err", err)
		}
		if err := r.store.EnforceSnapshotRetention(ctx, a.db); err != nil && ctx.Err() == nil {
			r.log.Warn("enforce snapshot retention", "db", a.id, "err", err)
		}
	}
}

// benign reports the compaction outcomes that mean "nothing to do yet".
func benign(err error) bool {
	return errors.Is(err, litestream.ErrNoCompaction) || errors.Is(err, litestream.ErrCompactionTooEarly) ||
		errors.Is(err, litestream.ErrDBNotReady)
}
