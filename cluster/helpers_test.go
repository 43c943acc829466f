package cluster

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/cubbyhq/cubby/cluster/clustertest"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// nodes, mirrors, embedded etcd servers and links must all have stopped.
// The one exception is the cleanup goroutine of the memory store that
// scs.New makes (and flow_test.go replaces): scs offers StopCleanup, but
// it races with the goroutine's start (it reads a field the goroutine
// writes), so it cannot be called safely.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/alexedwards/scs/v2/memstore.(*MemStore).startCleanup"))
}

// waitLimit bounds every wait for an event in these tests; reaching it is
// a failure, never the way a test passes.
const waitLimit = 20 * time.Second

// testTTL is the shortest lease etcd grants with its default timing.
const testTTL = 2 * time.Second

// openNode opens a node on url (an etcd:// URL) and closes it when the test
// ends.
func openNode(t testing.TB, url, id string, ttl time.Duration) *Node {
	t.Helper()
	return openNodeWith(t, url, id, ttl, nil)
}

// countedKey marks the context of a request whose etcd calls a test counts.
type countedKey struct{}

// counted is a context whose etcd calls openNodeWith's client counts: the
// calls made on behalf of one request, not the node's background ones.
func counted(t testing.TB) context.Context {
	return context.WithValue(testCtx(t), countedKey{}, true)
}

// openNodeWith is openNode whose etcd client counts into calls (if not nil)
// the unary requests made with a counted context.
func openNodeWith(t testing.TB, url, id string, ttl time.Duration, calls *atomic.Int64) *Node {
	t.Helper()
	var opts []grpc.DialOption
	if calls != nil {
		opts = append(opts, grpc.WithChainUnaryInterceptor(
			func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, o ...grpc.CallOption) error {
				if ctx.Value(countedKey{}) != nil {
					calls.Add(1)
				}
				return invoker(ctx, method, req, reply, cc, o...)
			}))
	}
	eps, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	n, err := Open(ctx, Config{Endpoints: eps, NodeID: id, Advertise: "http://" + id + ".test:8080", LeaseTTL: ttl, DialOptions: opts})
	if err != nil {
		t.Fatalf("open node %s: %v", id, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// startEtcd runs an embedded etcd for the test.
func startEtcd(t testing.TB) *clustertest.Etcd { return clustertest.Start(t) }

// await waits, event by event, until cond holds for the view m feeds.
func await(t testing.TB, m *mirror, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		moved := m.moved
		m.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-moved:
		case <-deadline.C:
			t.Fatalf("%s: not seen within %v", what, waitLimit)
		}
	}
}

// testCtx is a context for one etcd call in a test.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
