package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

const clusterPassword = "correct horse battery"

// TestClusterOfThreeNodes runs three nodes over one embedded etcd and one
// in-memory S3 and walks issue 16's contract through real HTTP: a signup
// race, sessions and notes through every node, logout everywhere, then a
// node cut off from etcd and S3 (a crash, or a partition): it stops
// serving, and its tenants are served by the others with every write that
// reached the bucket.
func TestClusterOfThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	nodes := []*clusterNode{
		startClusterNode(t, etcd, s3, "c3", "a"),
		startClusterNode(t, etcd, s3, "c3", "b"),
		startClusterNode(t, etcd, s3, "c3", "c"),
	}
	a, b, c := nodes[0], nodes[1], nodes[2]

	t.Run("signup race has one winner", func(t *testing.T) {
		statuses := make([]int, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := &client{t: t}
				statuses[i], _ = cl.do(n, "POST", "/api/v1/signup", map[string]string{"username": "racer", "password": clusterPassword})
			}()
		}
		wg.Wait()
		won, lost := 0, 0
		for _, s := range statuses {
			switch s {
			case http.StatusCreated:
				won++
			case http.StatusConflict:
				lost++
			}
		}
		if won != 1 || lost != 2 {
			t.Fatalf("signup race answered %v, want one 201 and two 409", statuses)
		}
	})

	// Six users, signed up round the nodes, each writing notes through
	// every node (most of them forwarded to the owner).
	users := make([]*client, 6)
	for i := range users {
		users[i] = &client{t: t}
		name := fmt.Sprintf("user%d", i)
		if s, body := users[i].do(nodes[i%3], "POST", "/api/v1/signup", map[string]string{"username": name, "password": clusterPassword}); s != http.StatusCreated {
			t.Fatalf("signup %s on %s: %d %s", name, nodes[i%3].id, s, body)
		}
		for j, n := range nodes {
			if s, body := users[i].do(n, "POST", "/api/v1/notes", map[string]string{"title": fmt.Sprintf("%s note %d", name, j)}); s != http.StatusCreated {
				t.Fatalf("note of %s through %s: %d %s", name, n.id, s, body)
			}
		}
	}

	t.Run("each tenant is open on its owner alone", func(t *testing.T) {
		// Each user wrote through all three nodes, so two of the three
		// writes were forwarded to the owner.
		for i := range users {
			tn, err := a.d.Pool().Routing().Lookup(context.Background(), fmt.Sprintf("user%d", i))
			if err != nil {
				t.Fatal(err)
			}
			var owners []string
			for _, n := range nodes {
				if own, ok := n.d.Node().Owner(tn.ID); ok && own.Mine {
					owners = append(owners, n.id)
				}
			}
			if len(owners) != 1 {
				t.Errorf("user%d is owned by %v", i, owners)
			}
		}
		open := 0
		for _, n := range nodes {
			open += n.d.Pool().Stats().Open
		}
		if open != len(users) {
			t.Errorf("%d handles open over the three nodes for %d users", open, len(users))
		}
	})

	t.Run("hot requests make no etcd request", func(t *testing.T) {
		// user0 is warm everywhere: its session is cached on every node
		// and its tenant is open on its owner. Every user's first upload
		// has been recorded as its current replica (a background etcd
		// write, once per claim, not part of any request).
		for i := range users {
			tn, err := a.d.Pool().Routing().Lookup(context.Background(), fmt.Sprintf("user%d", i))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				if own, ok := n.d.Node().Owner(tn.ID); ok && own.Mine {
					if _, err := n.d.Replicator().Sync(context.Background(), tn.ID); err != nil {
						t.Fatalf("sync user%d on %s: %v", i, n.id, err)
					}
				}
			}
		}
		before := etcdCalls(nodes)
		if before == 0 {
			t.Fatal("the signups counted no etcd request: the counter counts nothing")
		}
		for range 100 {
			for _, n := range nodes {
				if s, _ := users[0].notesOf(n); s != http.StatusOK {
					t.Fatalf("notes through %s: %d", n.id, s)
				}
			}
		}
		if got := etcdCalls(nodes) - before; got != 0 {
			t.Errorf("300 hot reads (200 of them forwarded) made %d etcd requests, want 0", got)
		}
	})

	t.Run("users --cluster lists every user with its owner", func(t *testing.T) {
		code, out, errOut := runCubby(t, context.Background(), "users", "--cluster", etcd.URL(), "--json")
		if code != exitOK {
			t.Fatalf("users --cluster: exit %d: %s", code, errOut)
		}
		var rows []userRow
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("users --cluster --json: %v: %s", err, out)
		}
		owners := map[string]string{}
		for _, r := range rows {
			owners[r.Username] = r.Owner
		}
		for i := range users {
			name := fmt.Sprintf("user%d", i)
			tn, err := a.d.Pool().Routing().Lookup(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			own, _ := a.d.Node().Owner(tn.ID)
			if got, ok := owners[name]; !ok || got != own.Owner.ID {
				t.Errorf("users --cluster says %s is owned by %q (listed: %v), node a's cache says %q", name, got, ok, own.Owner.ID)
			}
		}
		if code, out, _ := runCubby(t, context.Background(), "users", "--cluster", etcd.URL()); code != exitOK || !strings.Contains(out, "OWNER") || !strings.Contains(out, "user5") {
			t.Errorf("users --cluster table: exit %d\n%s", code, out)
		}
	})

	t.Run("the operator page lists the nodes and who owns each tenant", func(t *testing.T) {
		page := operatorPage(t, b)
		for _, want := range []string{"Cluster", a.url, c.url, "(this node)", "<dd>held</dd>", "<th scope=\"col\">Owner</th>", "user5"} {
			if !strings.Contains(page, want) {
				t.Errorf("b's operator page lacks %q", want)
			}
		}
		owned := 0
		for _, n := range nodes {
			owned += len(n.d.Node().Tenants())
		}
		if owned != len(users) {
			t.Fatalf("the nodes hold %d tenants for %d users", owned, len(users))
		}
	})

	t.Run("a session from one node works on every node", func(t *testing.T) {
		for _, n := range nodes {
			if s, body := users[0].do(n, "GET", "/api/v1/me", nil); s != http.StatusOK {
				t.Errorf("/me of user0 (signed up on a) through %s: %d %s", n.id, s, body)
			}
		}
	})

	t.Run("every user's notes read the same through every node", func(t *testing.T) {
		for i, u := range users {
			var first string
			for j, n := range nodes {
				s, titles := u.notesOf(n)
				if s != http.StatusOK || len(titles) != 3 {
					t.Fatalf("user%d through %s: %d %v", i, n.id, s, titles)
				}
				if j == 0 {
					first = joined(titles)
				} else if joined(titles) != first {
					t.Errorf("user%d through %s reads %v, through a %s", i, n.id, titles, first)
				}
			}
		}
	})

	t.Run("logout on one node ends the session on the others", func(t *testing.T) {
		u := &client{t: t}
		if s, _ := u.do(a, "POST", "/api/v1/login", map[string]string{"username": "user1", "password": clusterPassword}); s != http.StatusOK {
			t.Fatalf("login on a: %d", s)
		}
		if s, _ := u.do(c, "GET", "/api/v1/me", nil); s != http.StatusOK {
			t.Fatalf("/me on c before logout: %d", s)
		}
		token := u.session
		if s, _ := u.do(a, "POST", "/api/v1/logout", nil); s != http.StatusNoContent {
			t.Fatalf("logout on a: %d", s)
		}
		u.session = token // the old cookie, replayed
		took := waitFor(t, "logout on a reaching c", 10*time.Second, func() bool {
			s, _ := u.do(c, "GET", "/api/v1/me", nil)
			u.session = token
			return s == http.StatusUnauthorized
		})
		t.Logf("logout on a ended the session on c after %v", took)
	})

	t.Run("deleting an account through any node ends it everywhere", func(t *testing.T) {
		u := users[4]
		other := &client{t: t}
		if s, _ := other.do(b, "POST", "/api/v1/login", map[string]string{"username": "user4", "password": clusterPassword}); s != http.StatusOK {
			t.Fatalf("second login of user4 on b: %d", s)
		}
		if s, body := u.do(c, "DELETE", "/api/v1/account", map[string]string{"password": clusterPassword}); s != http.StatusNoContent {
			t.Fatalf("delete user4 through c: %d %s", s, body)
		}
		for _, n := range nodes {
			waitFor(t, "the other session of user4 ended on "+n.id, 10*time.Second, func() bool {
				s, _ := other.do(n, "GET", "/api/v1/me", nil)
				return s == http.StatusUnauthorized
			})
		}
		again := &client{t: t}
		if s, body := again.do(a, "POST", "/api/v1/signup", map[string]string{"username": "user4", "password": clusterPassword}); s != http.StatusCreated {
			t.Fatalf("the name user4 is not free again: %d %s", s, body)
		}
		if s, titles := again.notesOf(b); s != http.StatusOK || len(titles) != 0 {
			t.Fatalf("the new user4 reads %d %v through b, want no notes", s, titles)
		}
	})

	t.Run("delete-user --cluster removes an idle user and refuses an open one", func(t *testing.T) {
		racer, err := a.d.Pool().Routing().Lookup(context.Background(), "racer")
		if err != nil {
			t.Fatal(err)
		}
		replicaKeys := "c3/tenants/" + racer.ID[:2] + "/" + racer.ID + "/"
		if len(s3.Keys(t, replicaKeys)) == 0 {
			t.Fatal("racer has no replica to begin with")
		}
		wantRun(t, exitOK, []string{`deleted user "racer"`}, "delete-user", "--cluster", etcd.URL(), "--replicate-to", s3.URL("c3"), "racer")
		if keys := s3.Keys(t, replicaKeys); len(keys) != 0 {
			t.Errorf("racer's replica is still there: %v", keys)
		}
		for _, n := range nodes {
			u := &client{t: t}
			if s, _ := u.do(n, "POST", "/api/v1/login", map[string]string{"username": "racer", "password": clusterPassword}); s != http.StatusUnauthorized {
				t.Errorf("login of the deleted racer through %s: %d, want 401", n.id, s)
			}
		}
		wantRun(t, exitFailure, []string{`user "user3" is open on node`}, "delete-user", "--cluster", etcd.URL(), "--replicate-to", s3.URL("c3"), "user3")
		if s, _ := users[3].notesOf(b); s != http.StatusOK {
			t.Errorf("user3 after a refused delete-user: %d", s)
		}
		wantRun(t, exitUsage, []string{"--cluster needs --replicate-to"}, "delete-user", "--cluster", etcd.URL(), "user3")
	})

	t.Run("a dead node's tenants move with what reached the bucket", func(t *testing.T) {
		failover(t, s3, a, b, c, users)
	})
}

// etcdCalls sums the nodes' counted etcd requests.
func etcdCalls(nodes []*clusterNode) int64 {
	var n int64
	for _, node := range nodes {
		n += node.etcdCalls.Load()
	}
	return n
}

// failover makes c own users 2 and 5 (signed up on c), writes notes it
// syncs to the bucket and more it does not, cuts c off from etcd and S3,
// checks that c stops serving, and reads the users' notes through a and b
// once c's lease has expired.
func failover(t *testing.T, s3 *replicatest.S3, a, b, c *clusterNode, users []*client) {
	victims := []int{2, 5}
	ctx := context.Background()
	synced := map[int]int{}
	for _, i := range victims {
		u := users[i]
		for k := range 5 {
			if s, body := u.do(c, "POST", "/api/v1/notes", map[string]string{"title": fmt.Sprintf("synced %d", k)}); s != http.StatusCreated {
				t.Fatalf("note through c: %d %s", s, body)
			}
		}
		tn, err := c.d.Pool().Routing().Lookup(ctx, fmt.Sprintf("user%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if own, ok := c.d.Node().Owner(tn.ID); !ok || !own.Mine {
			t.Fatalf("user%d is not owned by c after writing through it: %+v", i, own)
		}
		if _, err := c.d.Replicator().Sync(ctx, tn.ID); err != nil {
			t.Fatalf("sync user%d: %v", i, err)
		}
		synced[i] = 3 + 5
	}
	// Writes after the explicit sync, paced over 2.5 s (several
	// replication windows, Litestream's 1 s sync interval): the older ones
	// reach the bucket on their own, the newest may be lost with the node.
	acked := map[int][]time.Time{}
	for k := range 25 {
		for _, i := range victims {
			if s, _ := users[i].do(c, "POST", "/api/v1/notes", map[string]string{"title": fmt.Sprintf("late %02d", k)}); s == http.StatusCreated {
				acked[i] = append(acked[i], time.Now())
			}
		}
		time.Sleep(100 * time.Millisecond) // pacing the load, not waiting for anything
	}
	kill := time.Now()
	cutOff(t, c, "c")
	// The pool is fenced by a watcher of Lost, a moment later.
	waitFor(t, "c's pool fenced", 10*time.Second, func() bool { return c.d.Pool().Fenced() != nil })
	fenced := time.Since(kill)
	if s, _ := (&client{t: t}).do(c, "GET", "/readyz", nil); s != http.StatusServiceUnavailable {
		t.Errorf("the cut-off node's /readyz answers %d, want 503", s)
	}
	if page := operatorPage(t, c); !strings.Contains(page, "lost:") {
		t.Error("the cut-off node's operator page does not say its lease is lost")
	}
	for _, i := range victims {
		if s, _ := users[i].do(c, "GET", "/api/v1/notes", nil); s != http.StatusServiceUnavailable {
			t.Errorf("cut-off c still answers user%d's notes with %d, want 503", i, s)
		}
	}
	c.srv.Close() // and it is gone for the clients too
	var moved time.Duration
	for _, i := range victims {
		var titles []string
		waitFor(t, fmt.Sprintf("user%d served again", i), 60*time.Second, func() bool {
			var s int
			s, titles = users[i].notesOf(a)
			return s == http.StatusOK
		})
		moved = max(moved, time.Since(kill))
		late := len(titles) - synced[i]
		if late < 0 {
			t.Fatalf("user%d lost synced notes: has %d of %d: %v", i, len(titles), synced[i], titles)
		}
		// Notes are newest first, and late ones were acknowledged in order:
		// the survivors are a prefix of them.
		window := time.Duration(0)
		if late < len(acked[i]) {
			window = kill.Sub(acked[i][late])
		}
		t.Logf("user%d: %d late writes acknowledged, %d survived; lost: those acknowledged in the last %v before the kill",
			i, len(acked[i]), late, window.Round(time.Millisecond))
		_, fromB := users[i].notesOf(b)
		if joined(fromB) != joined(titles) {
			t.Errorf("user%d after failover reads %v through b, %v through a", i, fromB, titles)
		}
		if s, body := users[i].do(b, "POST", "/api/v1/notes", map[string]string{"title": "after failover"}); s != http.StatusCreated {
			t.Errorf("write of user%d after failover: %d %s", i, s, body)
		}
	}
	t.Logf("c fenced itself %v after the cut; its tenants were served again %v after it (lease TTL %v)",
		fenced, moved, clusterLeaseTTL)
}
