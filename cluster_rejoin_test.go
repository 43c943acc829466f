package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// outcome is what a client got for one test write: through which node,
// when it was sent and answered (on the write log's clock), the status
// and the error code of a failure.
type outcome struct {
	key, via   string
	start, end int64
	status     int
	code, msg  string
}

// outcomes records every test write's answer, client side.
type outcomes struct {
	mu  sync.Mutex
	all []outcome
}

// post posts a note keyed key through node for session, recording the
// answer on l's clock.
func (o *outcomes) post(l *writeLog, node *clusterNode, session, key string) {
	b, _ := json.Marshal(map[string]string{"title": key})
	req, err := http.NewRequest("POST", node.url+"/api/v1/notes", bytes.NewReader(b))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(writeHeader, key)
	req.AddCookie(&http.Cookie{Name: "session", Value: session})
	oc := outcome{key: key, via: node.id, start: l.clock.Add(1)}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck // a 201 has no error
	resp.Body.Close()
	oc.end, oc.status, oc.code, oc.msg = l.clock.Add(1), resp.StatusCode, body.Error.Code, body.Error.Message
	o.mu.Lock()
	o.all = append(o.all, oc)
	o.mu.Unlock()
}

// list returns the outcomes so far.
func (o *outcomes) list() []outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.all)
}

// TestClusterCutOffNodeRejoins cuts node c off from etcd and S3 while
// writers post notes for its users through every node; its users move to
// another node. Then the link heals: c must rejoin by itself and serve
// again, and what it serves must be current — a user written elsewhere
// meanwhile is restored from the bucket, never served from c's older copy;
// a user nobody touched is served from c's own copy. Throughout, no two
// nodes accept writes of one tenant at once (the write log), no request
// to the fenced c waits for a timeout (it answers 503 at once), and once
// the new owner has served a user's write, no later write of that user
// through the live nodes fails.
func TestClusterCutOffNodeRejoins(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	log := &writeLog{seen: map[string][]served{}}
	a := startWrappedNode(t, etcd, s3, "rj", "a", log.wrap("a"))
	b := startWrappedNode(t, etcd, s3, "rj", "b", log.wrap("b"))
	c := startWrappedNode(t, etcd, s3, "rj", "c", log.wrap("c"))
	nodes := []*clusterNode{a, b, c}
	// busy (on c) and other (on a) are written throughout; quiet (on c)
	// only before the cut.
	busy, quiet, other := &client{t: t}, &client{t: t}, &client{t: t}
	for _, u := range []struct {
		c    *client
		name string
		home *clusterNode
	}{{busy, "busy", c}, {quiet, "quiet", c}, {other, "other", a}} {
		if s, body := u.c.signup(u.home, u.name); s != http.StatusCreated {
			t.Fatalf("signup %s on %s: %d %s", u.name, u.home.id, s, body)
		}
		if s, body := u.c.do(u.home, "POST", "/api/v1/notes", map[string]string{"title": u.name + "/first"}); s != http.StatusCreated {
			t.Fatalf("first note of %s: %d %s", u.name, s, body)
		}
	}
	for i := range 3 {
		if s, body := quiet.do(c, "POST", "/api/v1/notes", map[string]string{"title": fmt.Sprintf("quiet/%d", i)}); s != http.StatusCreated {
			t.Fatalf("note of quiet: %d %s", s, body)
		}
	}
	_, quietBefore := quiet.notesOf(c)

	out := &outcomes{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, u := range []*client{busy, other} {
		name := map[*client]string{busy: "busy", other: "other"}[u]
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; !stop.Load(); k++ {
					out.post(log, n, u.session, fmt.Sprintf("%s/%s%d", name, n.id, k))
					time.Sleep(15 * time.Millisecond) // pacing the load, not waiting for anything
				}
			}()
		}
	}
	stopWriters := func() { stop.Store(true); wg.Wait() }
	defer stopWriters()

	waitFor(t, "busy's writes served by c", 20*time.Second, func() bool { return len(log.accepted(t)["busy"]) > 5 })
	// A tenant with no replica at all could not move: wait for c's first
	// upload of busy (losing what c did not ship yet is the replication
	// window, which this test is not about).
	busyID := tenantID(t, c, "busy")
	waitFor(t, "busy replicated", 20*time.Second, func() bool {
		ok, err := c.d.Replicator().HasReplica(context.Background(), busyID)
		return err == nil && ok
	})
	cut := time.Now()
	cutOff(t, c, "c")
	var owner string
	moved := waitFor(t, "busy served elsewhere", 60*time.Second, func() bool {
		ws := log.accepted(t)["busy"]
		if len(ws) == 0 || ws[len(ws)-1].node == "c" {
			return false
		}
		owner = ws[len(ws)-1].node
		return true
	})
	t.Logf("busy was served by %s %v after the cut was noticed (%v after the cut; lease TTL %v)",
		owner, moved.Round(time.Millisecond), time.Since(cut).Round(time.Millisecond), clusterLeaseTTL)
	if v := c.d.Pool().Fenced(); v == nil {
		t.Fatal("c is cut off but not fenced")
	}
	time.Sleep(clusterLeaseTTL) // writes go on elsewhere for a while: c's copy of busy falls behind

	c.etcd.Heal(t)
	c.s3.Heal(t)
	back := waitFor(t, "c serving again", 60*time.Second, func() bool {
		return c.d.Node().Err() == nil && c.d.Pool().Fenced() == nil
	})
	t.Logf("c serves again %v after the link healed", back.Round(time.Millisecond))
	rejoined := log.clock.Load()
	waitFor(t, "a write of busy through c accepted", 20*time.Second, func() bool {
		for _, o := range out.list() {
			if o.via == "c" && o.start > rejoined && o.status == http.StatusCreated {
				return true
			}
		}
		return false
	})
	stopWriters()

	acc := log.accepted(t)
	for user, ws := range acc {
		order := runs(t, user, ws)
		t.Logf("%s: %d writes accepted, served in runs by %v", user, len(ws), order)
		if user == "busy" && (len(order) != 2 || order[0] != "c" || order[1] != owner) {
			t.Errorf("busy was served by %v, want c then %s", order, owner)
		}
		if user == "other" && len(order) != 1 {
			t.Errorf("other was served by %v, want one node", order)
		}
	}
	checkOutcomes(t, out.list(), acc, "c", map[string]string{"busy": owner})

	// quiet, written by nobody while c was away, is served by c from its
	// own copy (it was the last owner).
	if s, titles := quiet.notesOf(c); s != http.StatusOK || joined(titles) != joined(quietBefore) {
		t.Errorf("quiet through c after the rejoin: %d %v, want %v", s, titles, quietBefore)
	}
	// busy moves back to c once its owner stops: c must restore it from the
	// bucket, not serve the copy it had when it was cut off.
	var ownerNode *clusterNode
	for _, n := range nodes {
		if n.id == owner {
			ownerNode = n
		}
	}
	ownerNode.stop(t)
	var titles []string
	var last []byte
	defer func() {
		if t.Failed() && last != nil {
			t.Logf("c's last answer for busy: %s (a replica written by two owners restores malformed)", last)
		}
	}()
	waitFor(t, "busy served by c", 30*time.Second, func() bool {
		s, b := busy.do(c, "GET", "/api/v1/notes?limit=1000", nil)
		if s != http.StatusOK {
			last = b
			return false
		}
		_, titles = busy.notesOf(c)
		return true
	})
	// Every write the new owner accepted is there: c restored busy from
	// the bucket rather than serving the copy it had when it was cut off.
	// Of c's own last writes, those it had not shipped before the cut are
	// lost (the replication window, as when a node dies).
	by := acceptedBy(log)
	var lostOfC, fromOwner int
	for key, node := range by {
		if !strings.HasPrefix(key, "busy/") {
			continue
		}
		switch {
		case node == owner:
			fromOwner++
			if !slices.Contains(titles, key) {
				t.Errorf("write %s, accepted by %s, is not in what c serves: a stale copy", key, owner)
			}
		case !slices.Contains(titles, key):
			lostOfC++
		}
	}
	t.Logf("c serves busy with %d notes: all %d writes %s accepted; %d of c's last writes before the cut were not in the bucket",
		len(titles), fromOwner, owner, lostOfC)
}

// acceptedBy maps each accepted test write's key to the node that served
// it (see writeLog.accepted).
func acceptedBy(l *writeLog) map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.seen))
	for key, seen := range l.seen {
		out[key] = seen[0].node
		for _, s := range seen {
			if s.forwarded {
				out[key] = s.node
			}
		}
	}
	return out
}

// tenantID is the id of username's tenant, as node n's directory has it.
func tenantID(t *testing.T, n *clusterNode, username string) string {
	t.Helper()
	tn, err := n.d.Pool().Routing().Lookup(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

// checkOutcomes checks what the clients got: no answer is a wait for a
// timeout ("the request was cancelled"), and once the new owner of each
// user in owners served its first write of that user, no write of that
// user sent afterwards through a node other than cut failed.
func checkOutcomes(t *testing.T, all []outcome, acc map[string][]served, cut string, owners map[string]string) {
	t.Helper()
	took := map[string]int64{}
	for user, owner := range owners {
		for _, w := range acc[user] {
			if w.node == owner {
				took[user] = w.start
				break
			}
		}
		if _, ok := took[user]; !ok {
			t.Errorf("%s never served a write of %s", owner, user)
		}
	}
	counts := map[string]int{}
	for _, o := range all {
		counts[fmt.Sprintf("%s %d %s", o.via, o.status, o.code)]++
		if o.status == http.StatusServiceUnavailable && o.msg == "the request was cancelled" {
			t.Errorf("write %s through %s waited for a timeout: %d %s", o.key, o.via, o.status, o.msg)
		}
		user, _, _ := strings.Cut(o.key, "/")
		if at, ok := took[user]; ok && o.via != cut && o.start > at && o.status != http.StatusCreated {
			t.Errorf("write %s through %s, sent after %s took %s over, failed: %d %s %s", o.key, o.via, owners[user], user, o.status, o.code, o.msg)
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("answers %s: %d", k, counts[k])
	}
}

// TestClusterCutOffNodeGivesUpWhenItsIDIsTaken: if another process starts
// under a cut-off node's id (once its lease has expired), the cut-off
// node, when its link heals, does not rejoin: it stays fenced and says it
// is gone, which makes serve exit.
func TestClusterCutOffNodeGivesUpWhenItsIDIsTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	a := startClusterNode(t, etcd, s3, "gone", "a")
	c := startClusterNode(t, etcd, s3, "gone", "c")
	cutOff(t, c, "c")
	waitFor(t, "c's registration gone", 30*time.Second, func() bool {
		for _, n := range a.d.Node().Nodes() {
			if n.ID == "c" {
				return false
			}
		}
		return true
	})
	c2 := startClusterNode(t, etcd, s3, "gone", "c")
	c.etcd.Heal(t)
	c.s3.Heal(t)
	select {
	case <-c.d.Gone():
	case <-time.After(30 * time.Second):
		t.Fatal("the cut-off c never gave up, though another process holds its id")
	}
	if err := c.d.GoneErr(); err == nil || !strings.Contains(err.Error(), "node id in use") {
		t.Fatalf("GoneErr = %v, want node id in use", err)
	}
	if c.d.Pool().Fenced() == nil || c.d.Node().Err() == nil {
		t.Fatal("the node that gave up is serving")
	}
	if c2.d.Node().Err() != nil || c2.d.Pool().Fenced() != nil {
		t.Fatalf("the process that holds the id stopped serving: %v", c2.d.Node().Err())
	}
}
