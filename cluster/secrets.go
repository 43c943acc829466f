package cluster

import (
	"context"
	"crypto/rand"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Secrets every node of a cluster must hold alike, each under
// /secrets/<name>.
const (
	// SecretDeviceKey signs device cookies (auth.Devices): a cookie one
	// node issued must pass on every node.
	SecretDeviceKey = "device-key"
	// SecretForwardKey signs the client address a node vouches for when it
	// forwards a request (Hop).
	SecretForwardKey = "forward-key"
)

// secret is the key of the cluster secret name.
func (k keys) secret(name string) string { return string(k) + "/secrets/" + name }

// Secret returns the cluster's secret called name, making it on first use
// from candidate when candidate is not empty (a node's own device key, so
// that the cookies of the node a cluster grew from stay good), else from
// size random bytes. One transaction creates it only if it does not exist
// and otherwise reads it, so however many nodes start at once, every one
// gets the same secret: the first writer's.
func (n *Node) Secret(ctx context.Context, name string, candidate []byte, size int) ([]byte, error) {
	if len(candidate) == 0 {
		candidate = make([]byte, size)
		if _, err := rand.Read(candidate); err != nil {
			return nil, fmt.Errorf("cluster: make secret %s: %w", name, err)
		}
	}
	key := n.keys.secret(name)
	resp, err := n.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(candidate))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("cluster: read secret %s: %w", name, err)
	}
	if resp.Succeeded {
		return candidate, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 { // deleted between the compare and the read: cannot be, the txn is atomic
		return nil, fmt.Errorf("cluster: secret %s vanished", name)
	}
	if len(kvs[0].Value) < size {
		return nil, fmt.Errorf("cluster: secret %s in etcd is %d bytes, want at least %d", name, len(kvs[0].Value), size)
	}
	return kvs[0].Value, nil
}
