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
	// stop ends the fence watcher; done is closed when it has ended.
	stop, done chan struct{}
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
	cl := &clustered{}
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
	return nil
}

// watchLease fences the pool as soon as the node loses its lease: every
// acquire fails from then on and open handles close, before the lease can
// expire and another node claim this node's tenants.
func (d *DataDir) watchLease() {
	cl := d.cl
	cl.stop, cl.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(cl.done)
		select {
		case <-cl.node.Lost():
			d.log.Error("cluster lease lost: this node stops serving its tenants", "err", cl.node.Err())
			d.pool.Fence(cl.node.Err())
		case <-cl.stop:
		}
	}()
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
