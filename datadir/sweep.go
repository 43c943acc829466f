package datadir

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// A cluster node sweeps, at start, every Cluster.SweepEvery and whenever
// the directory watch sees a tenant deleted:
//
//   - the local copies of tenants deleted elsewhere: a file under tenants/
//     whose id the directory (etcd, on a miss) does not know, and that
//     this node neither holds nor has open, goes with its -wal/-shm and its
//     Litestream state. A signup makes its record before its file, so a
//     signup in progress is never taken for a deleted tenant.
//   - signups that crashed mid-way: a record provisioning for longer than
//     Cluster.StuckAfter is removed (one node wins; see
//     cluster.Directory.SweepStuck), and with it the tenant's replica.

// Defaults of the sweeps.
const (
	defaultSweepEvery = time.Minute
	defaultStuckAfter = 10 * time.Minute
)

// sweepTimeout bounds one sweep.
const sweepTimeout = time.Minute

// startSweeps starts the sweeper; closeFirst stops it.
func (d *DataDir) startSweeps(c *Cluster) {
	every, stuck := c.SweepEvery, c.StuckAfter
	if every <= 0 {
		every = defaultSweepEvery
	}
	if stuck <= 0 {
		stuck = defaultStuckAfter
	}
	cl := d.cl
	cl.stuckAfter = stuck
	cl.sweepStop, cl.sweepDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(cl.sweepDone)
		tick := time.NewTicker(every)
		defer tick.Stop()
		stuckDue := true
		for {
			d.sweep(stuck, stuckDue)
			select {
			case <-cl.sweepStop:
				return
			case <-tick.C:
				stuckDue = true
			case <-cl.dir.Removed():
				stuckDue = false
			}
		}
	}()
}

// Sweep runs a cluster node's sweeps now (a node runs them by itself; see
// sweep.go) and returns when they are done; a no-op on a single node.
func (d *DataDir) Sweep() {
	if d.cl != nil {
		d.sweep(d.cl.stuckAfter, true)
	}
}

// sweep runs the sweeps once (the stuck one only when due); what goes
// wrong is logged and tried again at the next sweep.
func (d *DataDir) sweep(stuck time.Duration, stuckDue bool) {
	ctx, cancel := context.WithTimeout(context.Background(), sweepTimeout)
	defer cancel()
	if stuckDue {
		d.sweepStuck(ctx, stuck)
	}
	if n, err := d.sweepCopies(ctx); err != nil {
		d.log.Warn("sweep of deleted tenants' local copies", "removed", n, "err", err)
	} else if n > 0 {
		d.log.Info("removed the local copies of tenants deleted on other nodes", "removed", n)
	}
}

// sweepStuck removes the signups stuck provisioning, and their replicas.
func (d *DataDir) sweepStuck(ctx context.Context, stuck time.Duration) {
	removed, err := d.cl.dir.SweepStuck(ctx, stuck)
	if err != nil {
		d.log.Warn("sweep of stuck signups", "err", err)
	}
	for _, t := range removed {
		d.log.Info("removed a signup stuck provisioning", "tenant", t.ID, "since", t.UpdatedAt)
		if err := d.repl.Remove(ctx, t.ID); err != nil {
			d.log.Warn("stuck signup's replica not removed", "tenant", t.ID, "err", err)
		}
	}
}

// sweepCopies drops the local copies of tenants the directory no longer
// has (files, and replication state even without a file), and says how
// many files it dropped.
func (d *DataDir) sweepCopies(ctx context.Context) (int, error) {
	ids, err := d.pool.LocalCopies()
	if err != nil {
		return 0, err
	}
	states, err := d.repl.LocalStates()
	if err != nil {
		return 0, err
	}
	ids = append(ids, states...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	held := make(map[string]bool)
	for _, id := range d.cl.owners.Held() {
		held[id] = true
	}
	n := 0
	var errs []error
	for _, id := range ids {
		if held[id] {
			continue
		}
		_, err := d.cl.dir.Get(ctx, id)
		if !errors.Is(err, tenant.ErrNotFound) {
			continue // it exists (or etcd could not say): keep it
		}
		dropped, err := d.pool.DropCopy(id)
		if errors.Is(err, tenant.ErrNotFound) {
			continue // not a tenant id: not ours to remove
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if dropped {
			n++
		}
		errs = append(errs, d.repl.Forget(id))
	}
	return n, errors.Join(errs...)
}
