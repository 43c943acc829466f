package datadir

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/cluster"
)

// Cluster is how a data directory serves as one node of a cluster
// (serve --cluster): the routing directory and the sessions live in etcd,
// and the pool opens a tenant only after claiming it (see package
// cluster). The data directory keeps its lock, its routing.db (for the
// device-cookie key only) and the local copies of the tenants this node
// has owned; tenants move between nodes through the replica bucket, so
// Options.Replicate is required.
type Cluster struct {
	// Node says how to join: etcd endpoints, node id, advertise URL, lease.
	Node cluster.Config
	// Sessions tunes the session store in etcd.
	Sessions cluster.SessionConfig
	// SweepEvery is how often the node sweeps deleted tenants' local
	// copies and stuck signups (see sweep.go); a minute when zero.
	SweepEvery time.Duration
	// StuckAfter is how long a signup may stay provisioning before a sweep
	// removes it; 10 minutes when zero.
	StuckAfter time.Duration
}

// clustered is what a data directory opened as a cluster node holds.
type clustered struct {
	node     *cluster.Node
	dir      *cluster.Directory
	sessions *cluster.Sessions
	owners   *cluster.Owners
	// counts, hop: the sign-in counts and the forward key every node
	// shares (shared.go).
	counts *cluster.Counts
	hop    *cluster.Hop
	// stop ends the fence watcher; done is closed when it has ended.
	stop, done chan struct{}
	// gone is closed when the node gave up rejoining for good (goneErr).
	gone    chan struct{}
	goneErr error
	// attempt bounds one try to rejoin; maxWait is the longest back-off.
	attempt, maxWait time.Duration
	// sweepStop ends the sweeper; sweepDone is closed when it has ended.
	sweepStop, sweepDone chan struct{}
	stuckAfter           time.Duration
}

// joinCluster joins the cluster c describes: the node (its lease), the
// directory and sessions in etcd, and the Owners the pool claims through.
func (d *DataDir) joinCluster(ctx context.Context, c *Cluster, o Options) (err error) {
	if d.repl == nil {
		return errors.New("cluster mode needs replication (tenants move between nodes through the bucket)")
	}
	ttl := c.Node.LeaseTTL
	if ttl <= 0 {
		ttl = 10 * time.Second // cluster.Config's default
	}
	cl := &clustered{gone: make(chan struct{}), attempt: 3 * ttl, maxWait: ttl / 2}
	d.cl = cl
	if cl.node, err = cluster.Open(ctx, c.Node); err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	if cl.dir, err = cluster.OpenDirectory(ctx, cl.node); err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	if cl.sessions, err = cluster.OpenSessions(ctx, cl.node, c.Sessions); err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	cl.owners = cluster.NewOwners(cl.node, d.repl, o.Logger, 0)
	// Each claim replicates under its own fencing token (see replica.Fencing).
	d.repl.Fence(cl.owners)
	return d.shareSecrets(ctx)
}

// watchLease fences the pool as soon as the node loses its lease: every
// acquire fails from then on and open handles close, before the lease can
// expire and another node claim this node's tenants. Then it rejoins (see
// rejoin) and watches the new lease the same way.
func (d *DataDir) watchLease() {
	cl := d.cl
	cl.stop, cl.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(cl.done)
		for {
			select {
			case <-cl.node.Lost():
			case <-cl.stop:
				return
			}
			d.log.Error("cluster lease lost: this node stops serving its tenants", "err", cl.node.Err())
			// Nothing more reaches the bucket from here (the handles the
			// fence closes get no final sync): their tenants may be other
			// nodes' by the time it would land (see replica.Replicator.Hold).
			d.repl.Hold()
			d.pool.Fence(cl.node.Err())
			if !d.rejoin() {
				return
			}
		}
	}()
}

// rejoinFirstWait is the first back-off between a fenced node's tries to
// rejoin; it doubles up to half the lease TTL (clustered.maxWait), so a
// node is back within about that long after etcd is.
const rejoinFirstWait = 100 * time.Millisecond

// rejoin tries, with a growing back-off, to bring a fenced node back: once
// every handle opened under the lost lease is closed, it takes a new lease
// and registers again (cluster.Node.Rejoin), waits until the directory and
// the sessions are as current as the new registration, forgets the claims
// of the lost lease and unfences the pool, which then claims each tenant
// anew as it is asked for (restoring it from the bucket when another node
// wrote it meanwhile). It returns false when the data directory closes or
// another process took the node id, which is for good: the node stays
// fenced and Gone is closed.
func (d *DataDir) rejoin() bool {
	cl := d.cl
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := cl.stop // read here: closeFirst clears the field once this watcher is done
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := rejoinFirstWait
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, cl.maxWait)
		if !d.pool.Drained() {
			continue
		}
		actx, cancelAttempt := context.WithTimeout(ctx, cl.attempt)
		err := cl.node.Rejoin(actx, func(ctx context.Context, rev int64) error {
			if err := cl.dir.Current(ctx, rev); err != nil {
				return err
			}
			if err := cl.sessions.Current(ctx, rev); err != nil {
				return err
			}
			cl.owners.Forget()
			d.repl.Resume()
			return nil
		})
		cancelAttempt()
		switch {
		case err == nil:
			if err := d.pool.Unfence(); err != nil {
				d.log.Error("cluster: rejoined but cannot serve", "err", err)
				continue // not reached: nothing opens while fenced
			}
			d.log.Info("cluster lease taken anew: this node serves again")
			return true
		case errors.Is(err, cluster.ErrNodeIDInUse):
			d.log.Error("cluster: cannot rejoin: another process runs under this node id; this node stays fenced", "err", err)
			cl.goneErr = err
			close(cl.gone)
			return false
		case ctx.Err() == nil:
			d.log.Warn("cluster: rejoin failed; trying again", "err", err, "in", wait)
		}
	}
}

// Gone is closed when the directory has given up serving for good: a
// cluster node whose node id another process registered while it was cut
// off, or a single server whose replica prefix another server took over
// (writer.go). GoneErr says which. The process should exit. Nil when
// neither can happen (a single server without replication).
func (d *DataDir) Gone() <-chan struct{} {
	switch {
	case d.cl != nil:
		return d.cl.gone
	case d.sa != nil:
		return d.sa.gone
	}
	return nil
}

// GoneErr is why Gone was closed, or nil.
func (d *DataDir) GoneErr() error {
	select {
	case <-d.Gone(): // never, when it is nil
	default:
		return nil
	}
	if d.cl != nil {
		return d.cl.goneErr
	}
	return d.sa.goneErr
}

// closeFirst stops the fence watcher and the session watch, before the
// pool closes.
func (cl *clustered) closeFirst() error {
	if cl.sweepStop != nil {
		close(cl.sweepStop)
		<-cl.sweepDone
		cl.sweepStop = nil
	}
	if cl.stop != nil {
		close(cl.stop)
		<-cl.done
		cl.stop = nil
	}
	if cl.sessions != nil {
		return wrap("close cluster sessions", cl.sessions.Close())
	}
	return nil
}

// closeOwners waits for the hand-offs in flight, after the pool closed and
// before replication closes.
func (cl *clustered) closeOwners() error {
	if cl.owners != nil {
		return wrap("close cluster owners", cl.owners.Close())
	}
	return nil
}

// closeLast closes the directory watch and leaves the cluster (revoking
// the lease, which frees whatever this node still owns), after replication
// has shipped every final sync.
func (cl *clustered) closeLast() error {
	var errs []error
	if cl.dir != nil {
		errs = append(errs, wrap("close cluster directory", cl.dir.Close()))
	}
	if cl.node != nil {
		errs = append(errs, wrap("leave cluster", cl.node.Close()))
	}
	return errors.Join(errs...)
}

// Node is the cluster node, or nil when the directory is not clustered.
func (d *DataDir) Node() *cluster.Node {
	if d.cl == nil {
		return nil
	}
	return d.cl.node
}

// SessionBackend is where sessions are kept: etcd in a cluster, else
// routing.db (the same as Sessions).
func (d *DataDir) SessionBackend() auth.SessionBackend {
	if d.cl != nil {
		return d.cl.sessions
	}
	return d.sessions
}
