package main

// cubby delete-user --cluster: delete an account of a cluster, as the app
// does, from outside the nodes.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/tenant"
)

// deleteClusterUser removes user name from the cluster at clusterURL: it
// joins for the moment as a node of its own (a throwaway data directory,
// an id of its own, a lease revoked on the way out), claims the user's
// tenant like any node before opening it, and removes the directory
// record, the replica and every session. A user another node owns now is
// refused, naming that node: delete the account through the app (any
// node), or wait until the owner has let it go (idle for 5 minutes). Local
// copies on the nodes that owned the user before stay (see the README's
// known limits).
func deleteClusterUser(ctx context.Context, clusterURL, replicateTo, name string, stdout, stderr io.Writer) (err error) {
	if replicateTo == "" {
		return &usageError{"--cluster needs --replicate-to: the user's replica is in the bucket"}
	}
	eps, err := cluster.ParseURL(clusterURL)
	if err != nil {
		return &usageError{"--cluster: " + err.Error()}
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "cubby-delete-user-")
	if err != nil {
		return fmt.Errorf("make a scratch data directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	d, err := datadir.Open(ctx, tmp, datadir.Options{
		Migrations: ms, Create: true, Logger: commandLog(stderr),
		Hasher:    auth.NewHasher(auth.DefaultParams(), 1),
		Replicate: replica.Config{URL: replicateTo},
		Cluster: &datadir.Cluster{Node: cluster.Config{
			Endpoints: eps, NodeID: fmt.Sprintf("delete-user-%d", os.Getpid()),
			Advertise: "http://127.0.0.1:9", // never forwarded to: it serves no request
		}},
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.Close()) }()
	t, err := d.Pool().Routing().Lookup(ctx, name)
	if errors.Is(err, tenant.ErrNotFound) {
		return fmt.Errorf("no user %q", name)
	}
	if err != nil {
		return err
	}
	err = d.Accounts().Remove(ctx, t.ID)
	var ee *tenant.ElsewhereError
	if errors.As(err, &ee) {
		return fmt.Errorf("user %q is open on node %s (%s) now: delete the account through the app, "+
			"or try again once that node has let it go (after 5 minutes idle)", t.Username, ee.Node, ee.Address)
	}
	if err != nil {
		return fmt.Errorf("delete %q: %w", t.Username, err)
	}
	fmt.Fprintf(stdout, "deleted user %q (tenant %s): directory record, replica and sessions\n", t.Username, t.ID)
	return nil
}
