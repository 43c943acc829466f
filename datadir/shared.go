package datadir

import (
	"context"
	"fmt"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/cluster"
)

// What the nodes of a cluster must share for sign-in to hold across them
// (issue 16): the counts of the login throttle and the signup limit, so a
// guesser gains nothing by spreading attempts over nodes; the device-cookie
// key, so a cookie one node issued passes on every node; and the forward
// key, with which a node vouches for the client address of a request it
// forwards. The keys are cluster secrets in etcd, made by whichever node
// starts first (one create-if-absent transaction each) and read by every
// other. The device key the first node offers is its own from routing.db,
// so the cookies of the node a cluster grew from stay good; routing.db's
// key is then unused on every node.

// shareSecrets reads (or makes) the cluster's device and forward keys and
// sets up the shared counts.
func (d *DataDir) shareSecrets(ctx context.Context) (err error) {
	cl := d.cl
	if d.deviceKey, err = cl.node.Secret(ctx, cluster.SecretDeviceKey, d.deviceKey, auth.DeviceKeyLen); err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	fwd, err := cl.node.Secret(ctx, cluster.SecretForwardKey, nil, cluster.HopKeyLen)
	if err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	if cl.hop, err = cluster.NewHop(cluster.HopConfig{Key: fwd}); err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	cl.counts = cluster.NewCounts(cl.node, cluster.CountsConfig{})
	return nil
}

// counter is where the sign-in counts live: etcd on a cluster node, nil
// (this process's memory) otherwise.
func (d *DataDir) counter() auth.Counter {
	if d.cl == nil {
		return nil
	}
	return d.cl.counts
}

// Hop signs and checks the client address of requests forwarded between
// the nodes of the cluster; nil when the directory is not clustered.
func (d *DataDir) Hop() *cluster.Hop {
	if d.cl == nil {
		return nil
	}
	return d.cl.hop
}
