package main

// cubby serve --cluster: one node of a cluster (package cluster).

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/router"
)

// clusterOptions are serve's cluster flags.
type clusterOptions struct {
	url, nodeID, advertise string
	leaseTTL               time.Duration
}

// clusterFlags registers --cluster, --node-id, --advertise and --lease-ttl.
func clusterFlags(fs *flag.FlagSet, c *clusterOptions) {
	fs.StringVar(&c.url, "cluster", envOr("CUBBY_CLUSTER", ""),
		"run as one node of a cluster whose directory, sessions and tenant ownership live in etcd at "+
			"etcd://HOST:PORT[,HOST:PORT…]; needs --node-id, --advertise and --replicate-to (env CUBBY_CLUSTER)")
	fs.StringVar(&c.nodeID, "node-id", envOr("CUBBY_NODE_ID", ""),
		"this node's id in the cluster: 1-64 of A-Z a-z 0-9 . _ - (env CUBBY_NODE_ID)")
	fs.StringVar(&c.advertise, "advertise", envOr("CUBBY_ADVERTISE", ""),
		"http(s)://HOST:PORT where the other nodes reach this one (env CUBBY_ADVERTISE)")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", 10*time.Second,
		"the node's etcd lease: a dead node's tenants move after this long (whole seconds)")
}

// config checks the cluster flags (none of them without --cluster) and
// returns what datadir needs, or nil without --cluster.
func (c clusterOptions) config(replicateTo string) (*datadir.Cluster, error) {
	if c.url == "" {
		if c.nodeID != "" || c.advertise != "" {
			return nil, &usageError{"--node-id and --advertise need --cluster"}
		}
		return nil, nil
	}
	if replicateTo == "" {
		return nil, &usageError{"--cluster needs --replicate-to: tenants move between nodes through the bucket"}
	}
	if c.nodeID == "" || c.advertise == "" {
		return nil, &usageError{"--cluster needs --node-id and --advertise"}
	}
	eps, err := cluster.ParseURL(c.url)
	if err != nil {
		return nil, &usageError{"--cluster: " + err.Error()}
	}
	cfg := cluster.Config{Endpoints: eps, NodeID: c.nodeID, Advertise: c.advertise, LeaseTTL: c.leaseTTL}
	if err := cfg.Check(); err != nil {
		return nil, &usageError{err.Error()}
	}
	return &datadir.Cluster{Node: cfg}, nil
}

// clusterApp is what a cluster node adds to the App: the Forwarder that
// passes requests to their tenant's owner, signing the client's address,
// and the Hop that believes the addresses other nodes sign. The returned
// close function drops its connections.
func clusterApp(d *datadir.DataDir, log *slog.Logger, rc *router.Config) (*router.App, func(), error) {
	n := d.Node()
	var app *router.App
	fwd := cluster.NewForwarder(cluster.ForwarderConfig{
		NodeID: n.Info().ID, Logger: log, Hop: d.Hop(),
		OnError: func(w http.ResponseWriter, r *http.Request, err error) { app.ForwardFailed(w, r, err) },
		Owner: func(ctx context.Context, tenant string) (cluster.NodeInfo, bool, error) {
			own, ok, err := n.OwnerNow(ctx, tenant)
			return own.Owner, ok, err
		},
	})
	rc.Forwarder, rc.Hops = fwd, d.Hop()
	app, err := router.New(*rc)
	if err != nil {
		fwd.Close()
		return nil, nil, fmt.Errorf("cluster app: %w", err)
	}
	return app, func() { fwd.Close() }, nil
}
