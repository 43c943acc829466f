package cluster

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/cluster/clustertest"
)

// take is one Take of one count named name with limit, over a 15-minute
// window, at now.
func take(t testing.TB, c *Counts, now time.Time, name string, limit int) (time.Duration, error) {
	t.Helper()
	return c.Take(testCtx(t), now, []auth.Count{{Key: name, Limit: limit, Window: 15 * time.Minute}})
}

func TestCountsAreOneCountOnEveryNode(t *testing.T) {
	e := startEtcd(t)
	c1 := NewCounts(openNode(t, e.URL(), "n1", testTTL), CountsConfig{})
	c2 := NewCounts(openNode(t, e.URL(), "n2", testTTL), CountsConfig{})
	now := time.Now().Truncate(time.Millisecond) // counts keep milliseconds
	for i, c := range []*Counts{c1, c2, c1} {
		if wait, err := take(t, c, now.Add(time.Duration(i)*time.Minute), "k", 3); err != nil || wait != 0 {
			t.Fatalf("take %d: %v, %v; want it counted", i+1, wait, err)
		}
	}
	wait, err := take(t, c2, now.Add(5*time.Minute), "k", 3)
	if err != nil || wait != 10*time.Minute {
		t.Fatalf("fourth take on n2: %v, %v; want refused for the 10 minutes left", wait, err)
	}
	if wait, err := take(t, c1, now.Add(5*time.Minute), "other", 3); err != nil || wait != 0 {
		t.Fatalf("another count: %v, %v", wait, err)
	}
	// The window closes: the count starts again from zero.
	if wait, err := take(t, c1, now.Add(15*time.Minute), "k", 3); err != nil || wait != 0 {
		t.Fatalf("take after the window: %v, %v", wait, err)
	}
	for range 2 {
		take(t, c2, now.Add(16*time.Minute), "k", 3)
	}
	if wait, _ := take(t, c2, now.Add(16*time.Minute), "k", 3); wait != 14*time.Minute {
		t.Fatalf("new window: refused for %v, want 14m", wait)
	}
}

func TestCountsGiveBackAndForget(t *testing.T) {
	e := startEtcd(t)
	c1 := NewCounts(openNode(t, e.URL(), "n1", testTTL), CountsConfig{})
	c2 := NewCounts(openNode(t, e.URL(), "n2", testTTL), CountsConfig{})
	now := time.Now().Truncate(time.Millisecond) // counts keep milliseconds
	for range 2 {
		take(t, c1, now, "k", 2)
	}
	if wait, _ := take(t, c2, now, "k", 2); wait <= 0 {
		t.Fatal("not refused at the limit")
	}
	if err := c2.Give(testCtx(t), []string{"k", "never-counted"}, nil); err != nil {
		t.Fatal(err)
	}
	if wait, _ := take(t, c1, now, "k", 2); wait != 0 { // c1's cache is stale: it must learn
		t.Fatalf("refused after one was given back (%v)", wait)
	}
	if wait, _ := take(t, c1, now, "k", 2); wait <= 0 {
		t.Fatal("not refused at the limit again")
	}
	if err := c2.Give(testCtx(t), nil, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if wait, _ := take(t, c1, now, "k", 2); wait != 0 {
			t.Fatalf("take %d after forget refused", i+1)
		}
	}
	// Giving back the last one deletes the count.
	c1.Give(testCtx(t), []string{"k"}, nil)
	c1.Give(testCtx(t), []string{"k"}, nil)
	resp, err := c1.cli.Get(testCtx(t), c1.keys.count("k"))
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("count at zero still kept: %v, %v", resp.Kvs, err)
	}
}

// A count with no limit is added to but never refuses; one at its limit
// refuses the whole Take, which then adds to none of them.
func TestCountsTakeIsAllOrNothing(t *testing.T) {
	e := startEtcd(t)
	c := NewCounts(openNode(t, e.URL(), "n1", testTTL), CountsConfig{})
	now := time.Now().Truncate(time.Millisecond) // counts keep milliseconds
	w := 15 * time.Minute
	take(t, c, now, "full", 1)
	wait, err := c.Take(testCtx(t), now, []auth.Count{{Key: "a", Limit: 5, Window: w}, {Key: "full", Limit: 1, Window: w}})
	if err != nil || wait <= 0 {
		t.Fatalf("take with a full count: %v, %v", wait, err)
	}
	if wait, _ := take(t, c, now, "a", 1); wait != 0 {
		t.Fatal("a refused take added to another count")
	}
	for range 3 {
		if wait, err := c.Take(testCtx(t), now, []auth.Count{{Key: "full", Limit: 0, Window: w}}); err != nil || wait != 0 {
			t.Fatalf("unchecked count refused: %v, %v", wait, err)
		}
	}
}

// Takes sent at once from two nodes are counted as if one after another:
// exactly the limit get through.
func TestCountsConcurrentTakesOnTwoNodesStopAtTheLimit(t *testing.T) {
	e := startEtcd(t)
	cs := []*Counts{
		NewCounts(openNode(t, e.URL(), "n1", testTTL), CountsConfig{}),
		NewCounts(openNode(t, e.URL(), "n2", testTTL), CountsConfig{}),
	}
	now := time.Now().Truncate(time.Millisecond) // counts keep milliseconds
	var passed, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			wait, err := take(t, cs[i%2], now, "k", 7)
			switch {
			case err != nil:
				t.Errorf("take: %v", err)
			case wait == 0:
				passed.Add(1)
			default:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if passed.Load() != 7 || refused.Load() != 13 {
		t.Fatalf("%d passed, %d refused; want 7 and 13", passed.Load(), refused.Load())
	}
}

// A Take whose guess is right is one transaction; the first in a lease
// bucket also grants the bucket's lease, which etcd then uses to delete
// the count after its window.
func TestCountsTakeIsOneRoundTrip(t *testing.T) {
	e := startEtcd(t)
	var calls atomic.Int64
	n := openNodeWith(t, e.URL(), "n1", testTTL, &calls)
	c := NewCounts(n, CountsConfig{})
	now := time.Now().Truncate(time.Millisecond) // counts keep milliseconds
	w := 15 * time.Minute
	three := func(names ...string) []auth.Count {
		var out []auth.Count
		for _, name := range names {
			out = append(out, auth.Count{Key: name, Limit: 10, Window: w})
		}
		return out
	}
	for i, want := range []int64{2, 1, 1} { // grant + txn, then one txn each
		before := calls.Load()
		if _, err := c.Take(counted(t), now, three("pair", "addr", "user")); err != nil {
			t.Fatal(err)
		}
		if got := calls.Load() - before; got != want {
			t.Errorf("take %d made %d etcd requests, want %d", i+1, got, want)
		}
	}
	before := calls.Load()
	if err := c.Give(counted(t), []string{"addr", "user"}, []string{"pair"}); err != nil {
		t.Fatal(err)
	}
	if got := calls.Load() - before; got != 1 {
		t.Errorf("give made %d etcd requests, want 1", got)
	}
	resp, err := n.cli.Get(testCtx(t), n.keys.count("addr"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read count: %v, %v", resp, err)
	}
	ttl, err := n.cli.TimeToLive(testCtx(t), clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(ttl.TTL) * time.Second; got < w || got > w+countBucketSpan+2*bucketLeaseGrace {
		t.Errorf("count's lease has %v left; want its window and at most a bucket more", got)
	}
}

// Without etcd a Take fails within its timeout: the caller refuses the
// sign-in rather than check a guess it cannot count.
func TestCountsFailWithoutEtcd(t *testing.T) {
	e := startEtcd(t)
	link := clustertest.NewLink(t, e.Addr)
	c := NewCounts(openNode(t, link.URL(), "n1", testTTL), CountsConfig{Timeout: 500 * time.Millisecond})
	take(t, c, time.Now(), "k", 3)
	link.Cut()
	if _, err := take(t, c, time.Now(), "k", 3); err == nil {
		t.Fatal("a take without etcd succeeded")
	}
}

func TestSecretIsTheFirstWritersForEveryNode(t *testing.T) {
	e := startEtcd(t)
	nodes := []*Node{openNode(t, e.URL(), "n1", testTTL), openNode(t, e.URL(), "n2", testTTL), openNode(t, e.URL(), "n3", testTTL)}
	got := make([][]byte, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			var err error
			if got[i], err = n.Secret(testCtx(t), SecretDeviceKey, bytes.Repeat([]byte{byte(i + 1)}, 32), 32); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) || len(got[i]) != 32 || got[i][0] == 0 {
			t.Fatalf("node %d has secret %x, node 1 %x", i+1, got[i], got[0])
		}
	}
	fwd1, err := nodes[0].Secret(testCtx(t), SecretForwardKey, nil, HopKeyLen)
	if err != nil {
		t.Fatal(err)
	}
	fwd2, err := nodes[1].Secret(testCtx(t), SecretForwardKey, nil, HopKeyLen)
	if err != nil || !bytes.Equal(fwd1, fwd2) || len(fwd1) != HopKeyLen || bytes.Equal(fwd1, got[0]) {
		t.Fatalf("forward keys %x and %x (device key %x), %v", fwd1, fwd2, got[0], err)
	}
}
