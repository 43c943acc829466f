package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// writeHeader carries a test write's key ("user/k") through forwarding,
// so each node's log can say which write it saw.
const writeHeader = "X-Test-Write"

// served is one node's handling of one write: the node, whether the
// request was forwarded to it (so it did not forward it on), and the
// write log's clock when its handler began and ended.
type served struct {
	node       string
	forwarded  bool
	start, end int64
}

// writeLog records every note a node's handler answered 201, on one clock
// (a counter) shared by every node: an event order, no wall time.
type writeLog struct {
	clock atomic.Int64
	mu    sync.Mutex
	seen  map[string][]served // by write key
}

// wrap records the writes node id's handler accepts.
func (l *writeLog) wrap(id string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get(writeHeader)
			if key == "" {
				next.ServeHTTP(w, r)
				return
			}
			s := served{node: id, forwarded: r.Header.Get(cluster.ForwardedByHeader) != "", start: l.clock.Add(1)}
			sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r)
			s.end = l.clock.Add(1)
			if sw.status != http.StatusCreated {
				return
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			l.seen[key] = append(l.seen[key], s)
		})
	}
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status.
func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// accepted returns, per user, the writes their SQLite file accepted, each
// with the node that served it (the node a request was forwarded to, or
// the only node that saw it), ordered by start.
func (l *writeLog) accepted(t *testing.T) map[string][]served {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]served{}
	for key, seen := range l.seen {
		// The entry node records its 201 after the owner does, so a
		// forwarded write may be seen from the owner alone for a moment.
		var by, entry []served
		for _, s := range seen {
			if s.forwarded {
				by = append(by, s)
			} else {
				entry = append(entry, s)
			}
		}
		if len(by) == 0 {
			by = entry
		}
		if len(by) != 1 || len(entry) > 1 {
			t.Fatalf("write %s was answered 201 by %+v: not one node serving it", key, seen)
		}
		user, _, _ := strings.Cut(key, "/")
		out[user] = append(out[user], by[0])
	}
	for _, ws := range out {
		sort.Slice(ws, func(i, j int) bool { return ws[i].start < ws[j].start })
	}
	return out
}

// runs splits a tenant's accepted writes (ordered by start) into runs of
// one node, and fails if a run's writes overlap the next run's: two nodes
// serving writes of one tenant at once.
func runs(t *testing.T, user string, ws []served) []string {
	var nodes []string
	var lastEnd int64
	for i, w := range ws {
		if i == 0 || w.node != ws[i-1].node {
			if i > 0 && w.start < lastEnd {
				t.Errorf("%s: node %s began a write (at %d) before node %s's run ended (at %d)",
					user, w.node, w.start, ws[i-1].node, lastEnd)
			}
			nodes = append(nodes, w.node)
			lastEnd = 0
		}
		lastEnd = max(lastEnd, w.end)
	}
	return nodes
}

// TestClusterNoTwoNodesWriteOneTenant has writers post notes for every
// user through every node while the owner of some of them is cut off
// from etcd and S3 and its users move; each node's write log shows, per
// tenant, which node's handler accepted each write, and no two nodes'
// runs of accepted writes overlap.
func TestClusterNoTwoNodesWriteOneTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	log := &writeLog{seen: map[string][]served{}}
	nodes := []*clusterNode{
		startWrappedNode(t, etcd, s3, "wl", "a", log.wrap("a")),
		startWrappedNode(t, etcd, s3, "wl", "b", log.wrap("b")),
		startWrappedNode(t, etcd, s3, "wl", "c", log.wrap("c")),
	}
	c := nodes[2]
	// Users 0 and 1 sign up on c (which claims them), 2 on a, 3 on b.
	home := []*clusterNode{c, c, nodes[0], nodes[1]}
	users := make([]*client, len(home))
	for i, n := range home {
		users[i] = &client{t: t}
		if s, body := users[i].signup(n, fmt.Sprintf("wl%d", i)); s != http.StatusCreated {
			t.Fatalf("signup wl%d on %s: %d %s", i, n.id, s, body)
		}
	}
	sessions := make([]string, len(users))
	for i, u := range users {
		sessions[i] = u.session
		// A first write through the home node claims the tenant there.
		if s, body := u.do(home[i], "POST", "/api/v1/notes", map[string]string{"title": "first"}); s != http.StatusCreated {
			t.Fatalf("first note of wl%d on %s: %d %s", i, home[i].id, s, body)
		}
		tn, err := c.d.Pool().Routing().Lookup(context.Background(), fmt.Sprintf("wl%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if own, ok := home[i].d.Node().Owner(tn.ID); !ok || !own.Mine {
			t.Fatalf("wl%d is not owned by %s after its first write: %+v", i, home[i].id, own)
		}
	}

	out := &outcomes{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	// A writer per user and node, so that a request hanging on the cut
	// node does not hold up the user's writes through the others.
	for i := range users {
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; !stop.Load(); k++ {
					out.post(log, n, sessions[i], fmt.Sprintf("wl%d/%s%d", i, n.id, k))
					time.Sleep(15 * time.Millisecond) // pacing the load, not waiting for anything
				}
			}()
		}
	}
	defer func() { stop.Store(true); wg.Wait() }()

	// c serves its users' writes before the cut.
	waitFor(t, "writes served by c", 20*time.Second, func() bool {
		return len(log.accepted(t)["wl0"]) > 5 && len(log.accepted(t)["wl1"]) > 5
	})
	cut := time.Now()
	cutOff(t, c, "c")
	// Wait until another node has served writes of both of c's users.
	waitFor(t, "c's users served elsewhere", 60*time.Second, func() bool {
		acc := log.accepted(t)
		for _, u := range []string{"wl0", "wl1"} {
			ws := acc[u]
			if len(ws) == 0 || ws[len(ws)-1].node == "c" {
				return false
			}
		}
		return true
	})
	stop.Store(true)
	wg.Wait()
	t.Logf("c's users were served elsewhere %v after the cut (lease TTL %v)", time.Since(cut).Round(time.Millisecond), clusterLeaseTTL)

	owners := map[string]string{}
	for user, ws := range log.accepted(t) {
		order := runs(t, user, ws)
		if (user == "wl0" || user == "wl1") && len(order) == 2 {
			owners[user] = order[1]
		}
		t.Logf("%s: %d writes accepted, served in runs by %v", user, len(ws), order)
		if user == "wl0" || user == "wl1" {
			if len(order) != 2 || order[0] != "c" || order[1] == "c" {
				t.Errorf("%s was served by %v, want c then one other node", user, order)
			}
		} else if len(order) != 1 {
			t.Errorf("%s, not owned by c, was served by %v, want one node", user, order)
		}
	}
	// No request waited for a timeout, and once another node served a
	// write of c's users, none sent afterwards through a live node failed.
	checkOutcomes(t, out.list(), log.accepted(t), "c", owners)
}
