package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/cubbyhq/cubby/tenant"
)

// Admin reads a cluster for the operator commands (cubby users --cluster):
// one etcd client, no lease, no registration, no caches, so it can run
// beside the nodes without being taken for one.
type Admin struct {
	cli  *clientv3.Client
	keys keys
	dir  *Directory
}

// OpenAdmin connects to the etcd endpoints (see ParseURL) of the cluster
// under prefix ("" for /cubby), checking that etcd answers within
// dialTimeout (5 s when zero).
func OpenAdmin(ctx context.Context, endpoints []string, prefix string, dialTimeout time.Duration) (*Admin, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("cluster: no etcd endpoints")
	}
	if dialTimeout <= 0 {
		dialTimeout = 5 * time.Second
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		prefix = "/cubby"
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: dialTimeout, Logger: zap.NewNop(), Context: context.Background()})
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to etcd: %w", err)
	}
	a := &Admin{cli: cli, keys: keys(prefix)}
	a.dir = &Directory{cli: cli, keys: a.keys}
	pctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := a.dir.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w (etcd at %s)", err, strings.Join(endpoints, ","))
	}
	return a, nil
}

// Close closes the etcd client.
func (a *Admin) Close() error {
	if err := a.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("cluster: close etcd client: %w", err)
	}
	return nil
}

// List returns up to limit tenants ordered by username, after the username
// after ("" for the first page), read from etcd.
func (a *Admin) List(ctx context.Context, after string, limit int) ([]tenant.Tenant, error) {
	return a.dir.List(ctx, after, limit)
}

// Owners maps each owned tenant's id to its owner's node id, as etcd has
// it now.
func (a *Admin) Owners(ctx context.Context) (map[string]string, error) {
	resp, err := a.cli.Get(ctx, a.keys.owners(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cluster: read owners: %w", err)
	}
	m := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m[strings.TrimPrefix(string(kv.Key), a.keys.owners())] = string(kv.Value)
	}
	return m, nil
}

// Nodes lists the live nodes (those whose lease holds), by id.
func (a *Admin) Nodes(ctx context.Context) ([]NodeInfo, error) {
	resp, err := a.cli.Get(ctx, a.keys.nodes(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cluster: read nodes: %w", err)
	}
	ns := make([]NodeInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		ns = append(ns, nodeOf(a.keys.nodes(), kv))
	}
	return ns, nil
}
