package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// safeUntil is how long a lease renewed (or granted) by a request sent at
// sent, for ttl seconds, may be trusted: the fraction SafetyFraction of the
// TTL. etcd starts the TTL when it handles the request, which is after
// sent, so the lease cannot expire anywhere before sent+ttl; the node gives
// up well before that.
func (n *Node) safeUntil(sent time.Time, ttl int64) time.Time {
	return sent.Add(time.Duration(float64(time.Duration(ttl)*time.Second) * n.cfg.SafetyFraction))
}

// keepAlive renews the lease three times per safe window (every
// SafetyFraction×TTL/3: 1.7 s by default) until ctx ends, so that one or two
// lost renewals do not cost the lease. A renewal that fails is retried every
// retryDivisor-th of the TTL; if none has succeeded by the safe deadline,
// or etcd says the lease is gone, the node is lost. Each attempt is bounded
// by the deadline, so a hung connection cannot hold the loss back.
//
// It uses KeepAliveOnce rather than the client's KeepAlive stream: the
// stream does not say when a renewal was sent, and the deadline must be
// counted from then, not from when the answer came.
func (n *Node) keepAlive(ctx context.Context, t *term, deadline time.Time) {
	defer n.kas.Done()
	every := time.Duration(float64(n.cfg.LeaseTTL) * n.cfg.SafetyFraction / 3)
	retry := n.cfg.LeaseTTL / retryDivisor
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		sent := time.Now()
		rctx, cancel := context.WithDeadline(ctx, deadline)
		resp, err := n.cli.KeepAliveOnce(rctx, t.lease)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && resp.TTL > 0:
			deadline = n.safeUntil(sent, resp.TTL)
			t.until.Store(deadline.UnixNano())
			timer.Reset(every)
			continue
		case err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound):
			t.lose(fmt.Errorf("%w: etcd no longer has the lease", ErrLost))
			return
		case !time.Now().Before(deadline):
			t.lose(fmt.Errorf("%w: no renewal within %v of the %v TTL: %v",
				ErrLost, time.Duration(float64(n.cfg.LeaseTTL)*n.cfg.SafetyFraction), n.cfg.LeaseTTL, err))
			return
		}
		timer.Reset(min(retry, time.Until(deadline)))
	}
}

// retryDivisor makes the retry interval of a failed renewal a twentieth of
// the TTL (half a second for 10 s).
const retryDivisor = 20
