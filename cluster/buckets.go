package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// bucketLeases hands out leases shared by keys that may go at about the
// same time: every expiry instant within one span maps to the lease that
// ends a grace after the span does. A node grants at most one lease per
// span it writes into, and nothing keeps them alive: etcd deletes the keys
// when their bucket's lease runs out. Sessions use hour buckets, the
// sign-in counts five-minute ones.
type bucketLeases struct {
	cli  *clientv3.Client
	span time.Duration
	now  func() time.Time

	mu      sync.Mutex
	buckets map[int64]clientv3.LeaseID // span end (Unix s) → lease
}

// bucketLeaseGrace is how long a bucket's lease outlives its span.
const bucketLeaseGrace = time.Minute

// newBucketLeases returns leases bucketed by span, on the clock now
// (time.Now if nil).
func newBucketLeases(cli *clientv3.Client, span time.Duration, now func() time.Time) *bucketLeases {
	if now == nil {
		now = time.Now
	}
	return &bucketLeases{cli: cli, span: span, now: now, buckets: make(map[int64]clientv3.LeaseID)}
}

// lease returns a lease that lasts at least until expiry, granting it on
// first use of its bucket.
func (b *bucketLeases) lease(ctx context.Context, expiry time.Time) (clientv3.LeaseID, error) {
	end := expiry.Truncate(b.span).Add(b.span)
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for e := range b.buckets {
		if time.Unix(e, 0).Before(now) {
			delete(b.buckets, e)
		}
	}
	if id, ok := b.buckets[end.Unix()]; ok {
		return id, nil
	}
	ttl := max(end.Add(bucketLeaseGrace).Sub(now), bucketLeaseGrace)
	g, err := b.cli.Grant(ctx, int64(ttl/time.Second)+1)
	if err != nil {
		return 0, fmt.Errorf("cluster: grant bucket lease: %w", err)
	}
	b.buckets[end.Unix()] = g.ID
	return g.ID, nil
}

// failed forgets every lease if err says one is gone (etcd restored from a
// snapshot, a clock jump), so the next write grants anew.
func (b *bucketLeases) failed(err error) {
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		b.mu.Lock()
		clear(b.buckets)
		b.mu.Unlock()
	}
}
