package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cubbyhq/cubby/auth"
)

// CountsConfig tunes Counts. A zero field takes the default named beside
// it.
type CountsConfig struct {
	// Timeout bounds one Take or Give, retries included; 2 s. A Take that
	// runs out fails, and the sign-in it counts is refused.
	Timeout time.Duration
	// Attempts is how many transactions a Take or Give makes before giving
	// up when other nodes keep changing the same counts; 16.
	Attempts int
	// CacheSize is how many counts' last known revisions a node keeps, so
	// that a Take usually commits in one transaction; 10,000.
	CacheSize int
}

// withDefaults fills the zero fields of c.
func (c CountsConfig) withDefaults() CountsConfig {
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.Attempts <= 0 {
		c.Attempts = 16
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 10_000
	}
	return c
}

// errContended means a Take or Give lost the race for its counts every
// time it tried.
var errContended = errors.New("cluster: the counts kept changing under every attempt")

// Counts keeps the login throttle's and the signup limit's counts in etcd
// (an auth.Counter), so that every node counts a client's attempts against
// the same limits: a guesser gains nothing by spreading guesses over nodes.
//
// Each count is one key, /counts/<sha256 of its name>, holding its window's
// opening time and its number (JSON). A Take is one transaction that
// compares every count's revision with the one this node last saw and, if
// none moved, writes the new numbers; if one moved, the transaction's else
// branch returns the current values and the Take tries again with them.
// So concurrent attempts on any nodes are counted as if made one after
// another, and a Take whose guess was right (the common case: the node saw
// the count last, or it does not exist yet) costs one round trip.
//
// A count is created with a shared lease that expires after its window has
// closed (one lease per node per five-minute span of expiry instants), so
// etcd deletes dead counts itself; a later write keeps that lease. The
// names are hashed so that etcd holds no client address or username in the
// clear.
//
// Counts are asked on the sign-in and signup paths only, never on a
// signed-in request.
type Counts struct {
	cli    *clientv3.Client
	keys   keys
	cfg    CountsConfig
	leases *bucketLeases

	mu   sync.Mutex
	seen map[string]seenCount // etcd key → what this node last saw of it
}

// seenCount is a count as some transaction saw it: its revision (0: no
// key) and value.
type seenCount struct {
	rev int64
	val countValue
}

// countValue is a count's value in etcd.
type countValue struct {
	Opened int64 `json:"opened_ms"` // when its window opened, Unix ms
	N      int   `json:"n"`
}

// NewCounts returns the counts of n's cluster. It holds no goroutine.
func NewCounts(n *Node, cfg CountsConfig) *Counts {
	cfg = cfg.withDefaults()
	return &Counts{
		cli: n.cli, keys: n.keys, cfg: cfg,
		leases: newBucketLeases(n.cli, countBucketSpan, nil),
		seen:   make(map[string]seenCount),
	}
}

// countBucketSpan is the width of the expiry buckets of count leases.
const countBucketSpan = 5 * time.Minute

var _ auth.Counter = (*Counts)(nil)

// count is the key of the count named name.
func (k keys) count(name string) string {
	sum := sha256.Sum256([]byte(name))
	return string(k) + "/counts/" + hex.EncodeToString(sum[:])
}

// Take implements auth.Counter.
func (c *Counts) Take(ctx context.Context, now time.Time, counts []auth.Count) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	ks := make([]string, len(counts))
	for i, ct := range counts {
		ks[i] = c.keys.count(ct.Key)
	}
	state := c.guess(ks)
	for range c.cfg.Attempts {
		wait := blocked(state, counts, now)
		var then []clientv3.Op
		var next []seenCount
		if wait <= 0 {
			var err error
			if then, next, err = c.takeOps(ctx, ks, state, counts, now); err != nil {
				return 0, err
			}
		}
		resp, err := c.cli.Txn(ctx).If(unchanged(ks, state)...).Then(then...).Else(gets(ks)...).Commit()
		if err != nil {
			c.leases.failed(err)
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				continue
			}
			return 0, fmt.Errorf("cluster: take counts: %w", err)
		}
		if !resp.Succeeded {
			state = c.learn(ks, resp)
			continue
		}
		if wait <= 0 {
			for i := range next {
				next[i].rev = resp.Header.Revision
			}
			c.remember(ks, next)
		}
		return wait, nil
	}
	return 0, fmt.Errorf("cluster: take counts: %w", errContended)
}

// Give implements auth.Counter.
func (c *Counts) Give(ctx context.Context, sub, forget []string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	ks := make([]string, len(sub))
	for i, name := range sub {
		ks[i] = c.keys.count(name)
	}
	var dels []clientv3.Op
	for _, name := range forget {
		dels = append(dels, clientv3.OpDelete(c.keys.count(name)))
	}
	state := c.guess(ks)
	for range c.cfg.Attempts {
		then, next := giveOps(ks, state)
		resp, err := c.cli.Txn(ctx).If(unchanged(ks, state)...).Then(append(then, dels...)...).Else(gets(ks)...).Commit()
		if err != nil {
			return fmt.Errorf("cluster: give counts back: %w", err)
		}
		if !resp.Succeeded {
			state = c.learn(ks, resp)
			continue
		}
		for i := range next {
			if next[i].rev != 0 {
				next[i].rev = resp.Header.Revision
			}
		}
		c.remember(ks, next)
		c.forget(forget)
		return nil
	}
	return fmt.Errorf("cluster: give counts back: %w", errContended)
}

// blocked is how long the first count at its limit stays blocked, or 0.
func blocked(state []seenCount, counts []auth.Count, now time.Time) time.Duration {
	var wait time.Duration
	for i, ct := range counts {
		s := state[i]
		if ct.Limit <= 0 || s.rev == 0 || s.val.N < ct.Limit {
			continue
		}
		if left := time.UnixMilli(s.val.Opened).Add(ct.Window).Sub(now); left > 0 {
			wait = max(wait, left)
		}
	}
	return wait
}

// takeOps are the writes that add one to every count, and the counts they
// leave. A count that does not exist or whose window has closed opens a
// new window, under the lease of the bucket it closes in.
func (c *Counts) takeOps(ctx context.Context, ks []string, state []seenCount, counts []auth.Count, now time.Time) ([]clientv3.Op, []seenCount, error) {
	ops := make([]clientv3.Op, len(ks))
	next := make([]seenCount, len(ks))
	for i, ct := range counts {
		s := state[i]
		val, opt := s.val, clientv3.WithIgnoreLease()
		if s.rev == 0 || !now.Before(time.UnixMilli(val.Opened).Add(ct.Window)) {
			lease, err := c.leases.lease(ctx, time.Now().Add(ct.Window))
			if err != nil {
				return nil, nil, err
			}
			val, opt = countValue{Opened: now.UnixMilli()}, clientv3.WithLease(lease)
		}
		val.N++
		b, err := json.Marshal(val)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster: encode count: %w", err)
		}
		ops[i], next[i] = clientv3.OpPut(ks[i], string(b), opt), seenCount{rev: -1, val: val}
	}
	return ops, next, nil
}

// giveOps are the writes that take one from every count that exists, and
// the counts they leave (rev 0: deleted; -1: written).
func giveOps(ks []string, state []seenCount) ([]clientv3.Op, []seenCount) {
	var ops []clientv3.Op
	next := make([]seenCount, len(ks))
	for i, s := range state {
		switch {
		case s.rev == 0:
		case s.val.N <= 1:
			ops = append(ops, clientv3.OpDelete(ks[i]))
		default:
			val := countValue{Opened: s.val.Opened, N: s.val.N - 1}
			b, _ := json.Marshal(val) // two integers: cannot fail
			ops = append(ops, clientv3.OpPut(ks[i], string(b), clientv3.WithIgnoreLease()))
			next[i] = seenCount{rev: -1, val: val}
		}
	}
	return ops, next
}

// unchanged compares every key with the state a transaction was built on.
func unchanged(ks []string, state []seenCount) []clientv3.Cmp {
	cmps := make([]clientv3.Cmp, len(ks))
	for i, k := range ks {
		if state[i].rev == 0 {
			cmps[i] = clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
		} else {
			cmps[i] = clientv3.Compare(clientv3.ModRevision(k), "=", state[i].rev)
		}
	}
	return cmps
}

// gets reads every key, for a transaction's else branch.
func gets(ks []string) []clientv3.Op {
	ops := make([]clientv3.Op, len(ks))
	for i, k := range ks {
		ops[i] = clientv3.OpGet(k)
	}
	return ops
}

// learn reads the counts from a failed transaction's else branch and
// remembers them.
func (c *Counts) learn(ks []string, resp *clientv3.TxnResponse) []seenCount {
	state := make([]seenCount, len(ks))
	for i := range ks {
		r := resp.Responses[i].GetResponseRange()
		if r == nil || len(r.Kvs) == 0 {
			continue
		}
		kv := r.Kvs[0]
		state[i].rev = kv.ModRevision
		if json.Unmarshal(kv.Value, &state[i].val) != nil {
			state[i].val = countValue{} // unreadable: counted as zero, then overwritten
		}
	}
	c.remember(ks, state)
	return state
}

// guess is what this node last saw of the keys; a key it has not seen is
// guessed absent.
func (c *Counts) guess(ks []string) []seenCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	state := make([]seenCount, len(ks))
	for i, k := range ks {
		state[i] = c.seen[k]
	}
	return state
}

// remember notes the keys' states after a transaction. The cache is
// emptied when full: it only saves a round trip.
func (c *Counts) remember(ks []string, state []seenCount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen)+len(ks) > c.cfg.CacheSize {
		clear(c.seen)
	}
	for i, k := range ks {
		if state[i].rev == 0 {
			delete(c.seen, k)
		} else {
			c.seen[k] = state[i]
		}
	}
}

// forget drops the named counts from the cache.
func (c *Counts) forget(names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range names {
		delete(c.seen, c.keys.count(name))
	}
}
