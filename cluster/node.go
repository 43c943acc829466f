package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Errors of a Node.
var (
	// ErrLost means the node's lease could not be renewed in time: the node
	// must stop serving its tenants (see Node.Lost).
	ErrLost = errors.New("cluster: lease lost")
	// ErrNodeIDInUse means a live node already registered this node id.
	ErrNodeIDInUse = errors.New("cluster: node id in use")
	// ErrClosed means the node has been closed.
	ErrClosed = errors.New("cluster: node closed")
)

// Config says how a Node joins the cluster. A zero field takes the default
// named beside it.
type Config struct {
	// Endpoints are the etcd members, HOST:PORT each (see ParseURL).
	Endpoints []string
	// NodeID names this node: 1-64 of [A-Za-z0-9._-].
	NodeID string
	// Advertise is the http(s)://HOST:PORT other nodes forward requests to.
	Advertise string
	// Prefix is the etcd key prefix every key of the cluster lives under;
	// "/cubby".
	Prefix string
	// LeaseTTL is the lease's time to live, in whole seconds; 10 s. etcd may
	// raise a very short TTL to its own minimum (about 2 s by default).
	LeaseTTL time.Duration
	// SafetyFraction is the part of the TTL after which, counted from the
	// moment the last successful renewal was sent, the node gives its lease
	// up as lost; 0.5. It must be in (0, 1): the rest of the TTL is the time
	// the node has to close its tenants before another node can claim them.
	SafetyFraction float64
	// DialTimeout bounds Open's first request to etcd; 5 s.
	DialTimeout time.Duration
	// DialOptions are extra gRPC options for the etcd client (interceptors
	// that count or trace requests, for one).
	DialOptions []grpc.DialOption
}

// nodeIDPattern is what a node id may be: it is part of etcd keys.
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withDefaults checks c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if len(c.Endpoints) == 0 {
		return c, errors.New("cluster: no etcd endpoints")
	}
	if !nodeIDPattern.MatchString(c.NodeID) {
		return c, fmt.Errorf("cluster: node id %q: want 1-64 of A-Z a-z 0-9 . _ -", c.NodeID)
	}
	adv, err := parseAdvertise(c.Advertise)
	if err != nil {
		return c, fmt.Errorf("cluster: %w", err)
	}
	c.Advertise = adv
	c.Prefix = strings.TrimRight(c.Prefix, "/")
	if c.Prefix == "" {
		c.Prefix = "/cubby"
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.LeaseTTL < time.Second || c.LeaseTTL%time.Second != 0 {
		return c, fmt.Errorf("cluster: lease TTL %v: want whole seconds, at least 1 s", c.LeaseTTL)
	}
	if c.SafetyFraction == 0 {
		c.SafetyFraction = 0.5
	}
	if c.SafetyFraction <= 0 || c.SafetyFraction >= 1 {
		return c, fmt.Errorf("cluster: safety fraction %v: want between 0 and 1", c.SafetyFraction)
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	return c, nil
}

// NodeInfo is what a node registers about itself.
type NodeInfo struct {
	// ID is the node's id.
	ID string `json:"id"`
	// Advertise is where other nodes forward its tenants' requests.
	Advertise string `json:"advertise"`
}

// Node is this process's membership of the cluster: an etcd client, one
// lease at a time that everything the node holds is attached to (its
// registration and its tenants' owner keys), and watch-fed caches of the
// nodes and the owners. See the package documentation for the fencing rule
// it keeps, and Rejoin for how a node that lost its lease gets a new one.
type Node struct {
	cfg  Config
	cli  *clientv3.Client
	keys keys

	owners *ownerView
	nodes  *nodeView
	om, nm *mirror

	// term is the lease the node holds now, or lost last.
	term atomic.Pointer[term]
	// ctx ends at Close, and with it every term's keep-alive; kas counts
	// the keep-alive goroutines.
	ctx  context.Context
	stop context.CancelFunc
	kas  sync.WaitGroup

	// rejoinMu makes Rejoin and Close take turns; closed is set by Close.
	rejoinMu sync.Mutex
	closed   bool

	closeOnce sync.Once
	closeErr  error
}

// term is one lease of the node, from its grant until it is lost. A node
// that rejoins starts a new term; nothing held under an old one counts.
type term struct {
	lease clientv3.LeaseID
	// stop ends the term's keep-alive.
	stop context.CancelFunc
	// until is when the lease stops being safe to serve under (Unix ns),
	// unless a renewal moves it on (see keepAlive).
	until atomic.Int64

	lostOnce sync.Once
	lost     chan struct{}
	lostErr  error
}

// err is why the term was lost, or nil while it holds.
func (t *term) err() error {
	select {
	case <-t.lost:
		return t.lostErr
	default:
		return nil
	}
}

// lose ends the term with err, once.
func (t *term) lose(err error) {
	t.lostOnce.Do(func() {
		t.lostErr = err
		close(t.lost)
	})
}

// Open connects to etcd, takes a lease, registers the node under
// <prefix>/nodes/<id> and starts renewing the lease. A node id that a live
// node holds is ErrNodeIDInUse (a restarted node waits out its old lease).
func Open(ctx context.Context, cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		Logger:      zap.NewNop(),
		DialOptions: append([]grpc.DialOption{reconnectBackoff(cfg)}, cfg.DialOptions...),
		Context:     context.Background(),
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to etcd: %w", err)
	}
	n := &Node{cfg: cfg, cli: cli, keys: keys(cfg.Prefix)}
	n.ctx, n.stop = context.WithCancel(context.Background())
	if err := n.start(ctx); err != nil {
		n.stop()
		n.kas.Wait()
		n.stopMirrors()
		return nil, errors.Join(err, cli.Close())
	}
	return n, nil
}

// start takes the lease and starts renewing it at once (loading the caches
// may take a while), then registers the node and fills the caches. On
// error it stops the renewal and revokes the lease; the caller closes the
// client.
func (n *Node) start(ctx context.Context) error {
	t, err := n.grant(ctx)
	if err != nil {
		return err
	}
	n.term.Store(t)
	if err := n.join(ctx, t); err != nil {
		t.stop()
		return errors.Join(err, n.revoke(t.lease))
	}
	return nil
}

// grant takes a new lease and starts renewing it. A lease whose grant
// took more than half its safe window (the request waited for etcd to be
// reachable again, say) would be lost at its first renewal: it is revoked
// and granted again once, now that etcd answers.
func (n *Node) grant(ctx context.Context) (*term, error) {
	for try := 0; ; try++ {
		sent := time.Now()
		gctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
		g, err := n.cli.Grant(gctx, int64(n.cfg.LeaseTTL/time.Second))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("cluster: grant lease from etcd at %s (within %v): %w",
				strings.Join(n.cfg.Endpoints, ","), n.cfg.DialTimeout, err)
		}
		until := n.safeUntil(sent, g.TTL)
		if try == 0 && time.Until(until) < until.Sub(sent)/2 {
			n.revoke(g.ID) //nolint:errcheck // unused; it lapses anyway
			continue
		}
		kctx, stop := context.WithCancel(n.ctx)
		t := &term{lease: g.ID, stop: stop, lost: make(chan struct{})}
		t.until.Store(until.UnixNano())
		n.kas.Add(1)
		go n.keepAlive(kctx, t, until)
		return t, nil
	}
}

// join registers the node and fills the caches of nodes and owners.
func (n *Node) join(ctx context.Context, t *term) error {
	if _, err := n.register(ctx, t.lease); err != nil {
		return err
	}
	progress := n.cfg.LeaseTTL / 3
	n.owners, n.nodes = newOwnerView(n.keys.owners()), newNodeView(n.keys.nodes())
	var err error
	if n.om, err = startMirror(ctx, n.cli, n.keys.owners(), n.owners, progress, false); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if n.nm, err = startMirror(ctx, n.cli, n.keys.nodes(), n.nodes, progress, false); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// register puts <prefix>/nodes/<id> with lease, if no live node holds it,
// and returns the revision of the put.
func (n *Node) register(ctx context.Context, lease clientv3.LeaseID) (int64, error) {
	b, err := json.Marshal(n.Info())
	if err != nil {
		return 0, fmt.Errorf("cluster: encode node: %w", err)
	}
	key := n.keys.node(n.cfg.NodeID)
	resp, err := n.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithLease(lease))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("cluster: register node %s: %w", n.cfg.NodeID, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("cluster: register node %s: %w (if it restarted, wait %v for its old lease)",
			n.cfg.NodeID, ErrNodeIDInUse, n.cfg.LeaseTTL)
	}
	return resp.Header.Revision, nil
}

// reconnectBackoff bounds how long the etcd client waits between tries to
// reconnect to half the lease TTL. gRPC's default grows to 120 s, so a node
// cut off for a few minutes could stay away that long after the link is
// back, and a node that lost its lease rejoins only once it reconnects.
func reconnectBackoff(cfg Config) grpc.DialOption {
	b := backoff.DefaultConfig
	b.BaseDelay = 100 * time.Millisecond
	b.MaxDelay = cfg.LeaseTTL / 2
	return grpc.WithConnectParams(grpc.ConnectParams{Backoff: b, MinConnectTimeout: cfg.DialTimeout})
}

// Info is this node's id and advertise URL.
func (n *Node) Info() NodeInfo { return NodeInfo{ID: n.cfg.NodeID, Advertise: n.cfg.Advertise} }

// Nodes lists the live nodes, from the cache.
func (n *Node) Nodes() []NodeInfo { return n.nodes.list() }

// Lost is closed when the node must stop serving: its lease could not be
// renewed within the safety fraction of its TTL, etcd reported it gone, or
// the node was closed. Err says which. After a Rejoin, Lost is a new
// channel, open while the new lease holds: ask for it again.
func (n *Node) Lost() <-chan struct{} { return n.term.Load().lost }

// Err is why Lost was closed, or nil while it is open.
func (n *Node) Err() error { return n.term.Load().err() }

// Close stops renewing the lease and revokes it, which deletes the node's
// registration and every owner key it holds at once: close every tenant
// handle first. It is safe to call twice and returns what went wrong.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.stop() // ends the keep-alives, and a Rejoin in flight
		n.rejoinMu.Lock()
		n.closed = true
		n.rejoinMu.Unlock()
		n.kas.Wait()
		n.stopMirrors()
		var errs []error
		t := n.term.Load()
		if t.err() == nil {
			errs = append(errs, n.revoke(t.lease))
		}
		t.lose(ErrClosed)
		if err := n.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("cluster: close etcd client: %w", err))
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// stopMirrors stops the cache watches that were started.
func (n *Node) stopMirrors() {
	for _, m := range []*mirror{n.om, n.nm} {
		if m != nil {
			m.close()
		}
	}
}

// revokeTimeout bounds the revoke of a closing node's lease.
const revokeTimeout = 3 * time.Second

// revoke ends lease now.
func (n *Node) revoke(lease clientv3.LeaseID) error {
	ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer cancel()
	if _, err := n.cli.Revoke(ctx, lease); err != nil {
		return fmt.Errorf("cluster: revoke lease: %w", err)
	}
	return nil
}

// Check says what is wrong with c (the endpoints, the node id, the
// advertise URL, the lease), without connecting: for a command to refuse
// bad flags before it touches anything.
func (c Config) Check() error {
	_, err := c.withDefaults()
	return err
}
