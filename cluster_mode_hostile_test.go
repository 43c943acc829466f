package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// A careless operator turns a single server into a cluster node by adding
// the cluster flags to its serve line. Its users are rows of its
// routing.db, which the cluster's directory in etcd does not list: the
// node's first sweep deleted every one of their files as the local copies
// of deleted accounts (and without a replica nothing was left anywhere).
// It must be refused, the files untouched.
func TestASingleServersDataDirectoryIsRefusedAsAClusterNode(t *testing.T) {
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	data := filepath.Join(t.TempDir(), "data")
	log := slog.New(slog.DiscardHandler)
	_, _, d, done, err := openApp(context.Background(), serveOptions{data: data, maxOpen: 8}, log)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := d.Pool().Provision(t.Context(), "ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	done()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(data, "tenants", tn.ID[:2], tn.ID+".db")

	o := serveOptions{data: data, maxOpen: 8, replicateTo: s3.URL("c"),
		cluster: clusterOptions{url: "etcd://" + etcd.Addr, nodeID: "n1", advertise: "http://127.0.0.1:19299", leaseTTL: clusterLeaseTTL}}
	if o.clusterCfg, err = o.cluster.config(o.replicateTo); err != nil {
		t.Fatal(err)
	}
	_, _, d, done, err = openApp(context.Background(), o, log)
	if err == nil {
		d.Sweep() // what the node does at start, and every minute
		done()
		d.Close()
	}
	if _, serr := os.Stat(file); serr != nil {
		t.Fatalf("a single server's user file is gone after starting its directory as a cluster node: %v", serr)
	}
	if !errors.Is(err, datadir.ErrOtherRole) {
		t.Fatalf("serve --cluster on a single server's data directory = %v, want it refused (ErrOtherRole)", err)
	}
}

// The README's known limit: a former cluster node's data directory
// started without --cluster moved every file to orphans/, served none of
// its users (whose names anyone could then sign up again), and, with the
// cluster's --replicate-to, wrote a routing.db replica into the cluster's
// prefix. It must be refused, the directory and the bucket untouched.
func TestAClusterNodesDataDirectoryIsRefusedAlone(t *testing.T) {
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	data := filepath.Join(t.TempDir(), "data")
	n := startNodeWith(t, etcd, s3, "c", "n1", nil, func(o *serveOptions) { o.data = data })
	c := &client{t: t}
	if s, b := c.signup(n, "ann"); s != 201 {
		t.Fatalf("signup: %d %s", s, b)
	}
	n.stop(t)

	for _, repl := range []string{"", s3.URL("c")} {
		_, _, d, done, err := openApp(context.Background(), serveOptions{data: data, maxOpen: 8, replicateTo: repl},
			slog.New(slog.DiscardHandler))
		if err == nil {
			done()
			d.Close()
		}
		if !errors.Is(err, datadir.ErrOtherRole) {
			t.Errorf("serve (replicate-to %q) on a cluster node's data directory = %v, want it refused (ErrOtherRole)", repl, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(data, "orphans")); len(ents) != 0 {
		t.Errorf("%d files of the cluster's users moved to orphans/", len(ents))
	}
	if keys := s3.Keys(t, "c/routing"); len(keys) != 0 {
		t.Errorf("a routing.db replica was written into the cluster's prefix: %v", keys)
	}
}
