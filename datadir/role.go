package datadir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cubbyhq/cubby/tenant"
)

// A data directory serves either a single server or one node of a
// cluster, and the two cannot stand in for each other:
//
//   - a single server's users are rows of its routing.db. Started as a
//     cluster node, the directory in etcd does not list them, and the
//     node's first sweep deletes every one of their files as the local
//     copies of deleted tenants (found by a careless-operator pass: all
//     of them gone, and without a replica nothing left anywhere);
//   - a cluster node's users live in etcd, its routing.db holds no row.
//     Started alone, the crash sweep moves every file to orphans/ and
//     serves none of their users, whose names anyone can sign up again
//     (and with --replicate-to, it writes a routing.db replica into the
//     cluster's prefix).
//
// So a cluster node marks its directory (clusterMark, naming the node),
// and Open refuses the other role: a marked directory without --cluster,
// and a routing.db that lists tenants with it.

// clusterMark is the file that marks a cluster node's data directory.
const clusterMark = "cluster-node"

// ErrOtherRole refuses a single server's data directory as a cluster node
// and a cluster node's as a single server.
var ErrOtherRole = errors.New("data directory belongs to the other mode")

// refuseClusterDir refuses, without --cluster, a directory a cluster node
// has used.
func refuseClusterDir(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, clusterMark))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("read %s: %w", clusterMark, err)
	}
	return fmt.Errorf("%w: %s is the data directory of cluster node %q (its users are the cluster's, listed in etcd, "+
		"and its routing.db lists none); start it with --cluster, --node-id, --advertise and --replicate-to, "+
		"or use an empty data directory for a single server", ErrOtherRole, dir, strings.TrimSpace(string(b)))
}

// refuseSingleDir refuses to make a cluster node of a directory whose
// routing.db lists tenants (a single server's), and otherwise marks the
// directory as node id's.
func (d *DataDir) refuseSingleDir(ctx context.Context, id string) error {
	n, err := d.routing.Count(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: %s is a single server's data directory: its routing.db lists %d tenant(s) the cluster "+
			"does not know, and a cluster node would delete their files as those of deleted accounts; serve it "+
			"without --cluster, or start the node on an empty data directory", ErrOtherRole, d.path, n)
	}
	p := filepath.Join(d.path, clusterMark)
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == id {
		return nil
	}
	if err := tenant.WriteFileAtomic(d.path, clusterMark, []byte(id+"\n")); err != nil {
		return fmt.Errorf("mark the data directory as a cluster node's: %w", err)
	}
	return nil
}
