package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/replica/replicatest"
	"github.com/cubbyhq/cubby/router"
)

// clusterLeaseTTL is the test nodes' lease: short, so failover is quick.
const clusterLeaseTTL = 2 * time.Second

// clusterNode is one cubby serve --cluster, in process, on loopback: built
// by openApp and served by newServer as serve does. It reaches etcd and S3
// through links a test can cut, as a crash or a partition would.
type clusterNode struct {
	id, url  string
	d        *datadir.DataDir
	srv      *http.Server
	etcd, s3 *clustertest.Link
	done     func()
	// etcdCalls counts the node's unary etcd requests other than its
	// caches' revision probes (see countEtcd).
	etcdCalls atomic.Int64
}

// startClusterNode starts node id of the cluster at etcd, replicating to
// s3 under prefix; it is stopped when the test ends.
func startClusterNode(t testing.TB, etcd *clustertest.Etcd, s3 *replicatest.S3, prefix, id string) *clusterNode {
	t.Helper()
	return startWrappedNode(t, etcd, s3, prefix, id, nil)
}

// startWrappedNode is startClusterNode with the node's handler wrapped by
// wrap (when not nil), for a test that watches what each node serves.
func startWrappedNode(t testing.TB, etcd *clustertest.Etcd, s3 *replicatest.S3, prefix, id string,
	wrap func(http.Handler) http.Handler) *clusterNode {
	t.Helper()
	return startNodeWith(t, etcd, s3, prefix, id, wrap, nil)
}

// startNodeWith is startWrappedNode whose serve options edit (when not
// nil) changes before the node starts.
func startNodeWith(t testing.TB, etcd *clustertest.Etcd, s3 *replicatest.S3, prefix, id string,
	wrap func(http.Handler) http.Handler, edit func(*serveOptions)) *clusterNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &clusterNode{id: id, url: "http://" + ln.Addr().String(), etcd: clustertest.NewLink(t, etcd.Addr)}
	u, err := url.Parse(s3.URL(prefix))
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := url.Parse(u.Query().Get("endpoint"))
	if err != nil {
		t.Fatal(err)
	}
	n.s3 = clustertest.NewLink(t, endpoint.Host)
	q := u.Query()
	q.Set("endpoint", "http://"+n.s3.Addr)
	u.RawQuery = q.Encode()
	o := serveOptions{
		data: filepath.Join(t.TempDir(), "data"), maxOpen: 64, replicateTo: u.String(),
		proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		cluster: clusterOptions{url: n.etcd.URL(), nodeID: id, advertise: n.url, leaseTTL: clusterLeaseTTL},
	}
	if edit != nil {
		edit(&o)
	}
	if o.clusterCfg, err = o.cluster.config(o.replicateTo); err != nil {
		t.Fatal(err)
	}
	o.clusterCfg.Node.DialOptions = []grpc.DialOption{grpc.WithChainUnaryInterceptor(n.countEtcd)}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("CUBBY_TEST_LOG") != "" { // the nodes' logs on stderr, for finding why a test failed
		log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", id)
	}
	app, _, d, done, err := openApp(context.Background(), o, log)
	if err != nil {
		ln.Close()
		t.Fatalf("start node %s: %v", id, err)
	}
	n.d, n.done = d, done
	var h http.Handler = app
	if wrap != nil {
		h = wrap(app)
	}
	n.srv = newServer(h, log)
	go n.srv.Serve(ln) //nolint:errcheck // ErrServerClosed at the end
	t.Cleanup(func() { n.stop(t) })
	return n
}

// countEtcd counts a unary etcd request unless it is a cache's revision
// probe (a count-only read of its prefix, made every TTL/3 whatever the
// traffic): what is left is what requests and writes cost.
func (n *clusterNode) countEtcd(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if rr, ok := req.(*etcdserverpb.RangeRequest); !ok || !rr.CountOnly || len(rr.RangeEnd) != 0 {
		n.etcdCalls.Add(1)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// stop shuts the node down cleanly (a no-op after kill's parts).
func (n *clusterNode) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n.srv.Shutdown(ctx) //nolint:errcheck // closed already after a kill
	n.done()
	if err := n.d.Close(); err != nil && n.d.Node().Err() == nil {
		t.Errorf("close node %s: %v", n.id, err)
	}
}

// client is one user's view of the cluster: their session cookie, sent
// to whichever node a request goes to.
type client struct {
	t       testing.TB
	session string
}

// do sends a request to node and returns the status and body.
func (c *client) do(node *clusterNode, method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, node.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.session != "" {
		req.AddCookie(&http.Cookie{Name: "session", Value: c.session})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == "session" {
			c.session = ck.Value
		}
	}
	return resp.StatusCode, b
}

// notesOf reads a user's note titles through node.
func (c *client) notesOf(node *clusterNode) (int, []string) {
	c.t.Helper()
	status, b := c.do(node, "GET", "/api/v1/notes?limit=1000", nil)
	if status != http.StatusOK {
		return status, nil
	}
	var out struct {
		Notes []struct {
			Title string `json:"title"`
		} `json:"notes"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatalf("notes through %s: %v: %s", node.id, err, b)
	}
	titles := make([]string, len(out.Notes))
	for i, n := range out.Notes {
		titles[i] = n.Title
	}
	return status, titles
}

// cutOff cuts node n (called name) off from etcd and S3 and waits until it
// notices that it lost its lease.
func cutOff(t testing.TB, n *clusterNode, name string) {
	t.Helper()
	n.s3.Cut()
	n.etcd.Cut()
	select {
	case <-n.d.Node().Lost():
	case <-time.After(30 * time.Second):
		t.Fatal(name + " never noticed it was cut off from etcd")
	}
}

// waitFor polls cond until it holds, failing the test after limit (a
// guard against a hang, not a measure of speed).
func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// operatorPage renders node n's operator page as serve --metrics-addr
// would serve it.
func operatorPage(t testing.TB, n *clusterNode) string {
	t.Helper()
	op, err := router.NewOperator(router.OperatorConfig{Pool: n.d.Pool(), Node: n.d.Node(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	op.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("operator page of %s: %d %s", n.id, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// joined is titles as one string, for comparing.
func joined(titles []string) string { return strings.Join(titles, "|") }

// signup signs name up through node. A 503 busy (the password-hashing
// queue was full for 2 s: three nodes in one process on a small machine
// oversubscribe its cores threefold, and a burst of signups can wait that
// long) is the server's documented answer to overload, with Retry-After,
// so the client tries again a few times, as a client should. Any other
// failure is returned at once: a 503 tenant_unavailable here would be a
// bug (or a node that lost its lease, see README-rejoin.md), not load.
func (c *client) signup(node *clusterNode, name string) (int, []byte) {
	c.t.Helper()
	body := map[string]string{"username": name, "password": clusterPassword}
	s, b := c.do(node, "POST", "/api/v1/signup", body)
	for try := 0; s == http.StatusServiceUnavailable && errorCode(b) == "busy" && try < 5; try++ {
		time.Sleep(500 * time.Millisecond) // the client's back-off, not a wait for an event
		s, b = c.do(node, "POST", "/api/v1/signup", body)
	}
	return s, b
}

// errorCode is the code of an error answer's body, or "".
func errorCode(b []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	return e.Error.Code
}
