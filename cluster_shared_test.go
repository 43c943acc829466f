package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// What the nodes of a cluster share for sign-in (datadir/shared.go): the
// login throttle's and the signup limit's counts, the device-cookie key
// and the key that vouches for a forwarded request's client address.

// attempt is one sign-in or signup request to a node.
type attempt struct {
	hc      *http.Client      // nil: http.DefaultClient (from 127.0.0.1)
	headers map[string]string // X-Forwarded-For and the like
	cookies []*http.Cookie
}

// post sends body as JSON to path on node and returns the status and the
// cookies set.
func (at attempt) post(t *testing.T, node *clusterNode, path string, body any) (int, []*http.Cookie) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", node.url+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range at.headers {
		req.Header.Set(k, v)
	}
	for _, c := range at.cookies {
		req.AddCookie(c)
	}
	hc := at.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", node.id, path, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
	return resp.StatusCode, resp.Cookies()
}

// login tries name's password on node.
func (at attempt) login(t *testing.T, node *clusterNode, name, password string) int {
	t.Helper()
	s, _ := at.post(t, node, "/api/v1/login", map[string]string{"username": name, "password": password})
	return s
}

// from is an attempt whose client address is addr, told to the nodes the
// way a trusted proxy would (the rig trusts 127.0.0.0/8).
func from(addr string) attempt {
	return attempt{headers: map[string]string{"X-Forwarded-For": addr}}
}

// startThree starts nodes a, b and c on one etcd and one bucket, each
// with edit applied to its serve options.
func startThree(t *testing.T, prefix string, edit func(*serveOptions)) (a, b, c *clusterNode) {
	t.Helper()
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	return startNodeWith(t, etcd, s3, prefix, "a", nil, edit),
		startNodeWith(t, etcd, s3, prefix, "b", nil, edit),
		startNodeWith(t, etcd, s3, prefix, "c", nil, edit)
}

// Guesses from one address at one username, spread over three nodes, are
// throttled at the limit one node alone would apply (10), not three times
// it. The username has no account, so no node forwards them: each is
// counted where it lands.
func TestClusterThrottleSpreadOverNodesIsOneThrottle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	a, b, c := startThree(t, "throttle", nil)
	nodes := []*clusterNode{a, b, c}
	guesser := from("203.0.113.7")
	for i := range 10 { // auth.ThrottleConfig's default PairLimit
		if s := guesser.login(t, nodes[i%3], "nobody", fmt.Sprint("guess ", i)); s != http.StatusUnauthorized {
			t.Fatalf("guess %d through %s: %d, want 401", i+1, nodes[i%3].id, s)
		}
	}
	for _, n := range nodes {
		if s := guesser.login(t, n, "nobody", "one more"); s != http.StatusTooManyRequests {
			t.Errorf("11th guess through %s: %d, want 429: the nodes count apart", n.id, s)
		}
	}
	if s := from("203.0.113.8").login(t, a, "nobody", "another address"); s != http.StatusUnauthorized {
		t.Errorf("another address: %d, want 401", s)
	}
}

// A wrong password for a user another node owns is counted once, by the
// owner the login is forwarded to: the node it reached makes no etcd
// request for it (it used to count and uncount it there first, two
// transactions), and the throttle still refuses the 11th guess.
func TestClusterForwardedLoginIsCountedOnceByTheOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	a, b, _ := startThree(t, "counted", nil)
	if s, _ := from("203.0.113.20").post(t, b, "/api/v1/signup",
		map[string]string{"username": "owned", "password": clusterPassword}); s != http.StatusCreated {
		t.Fatalf("signup on b: %d", s)
	}
	guesser := from("203.0.113.21")
	waitFor(t, "a knows b owns the user", 10*time.Second, func() bool {
		tn, err := a.d.Pool().Routing().Lookup(context.Background(), "owned")
		if err != nil {
			return false
		}
		own, ok := a.d.Node().Owner(tn.ID)
		return ok && own.Owner.ID == "b"
	})
	for i := range 10 {
		before := a.etcdCalls.Load()
		if s := guesser.login(t, a, "owned", fmt.Sprint("guess ", i)); s != http.StatusUnauthorized {
			t.Fatalf("guess %d through a: %d, want 401", i+1, s)
		}
		if n := a.etcdCalls.Load() - before; n != 0 {
			t.Fatalf("guess %d: a made %d etcd requests for a login it forwards, want 0", i+1, n)
		}
	}
	if s := guesser.login(t, a, "owned", "one more"); s != http.StatusTooManyRequests {
		t.Errorf("11th guess through a: %d, want 429", s)
	}
	if s := from("203.0.113.22").login(t, a, "owned", clusterPassword); s != http.StatusOK {
		t.Errorf("the right password from another address, through a: %d, want 200", s)
	}
}

// --signup-limit counts the accounts one address makes on every node.
func TestClusterSignupLimitAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	a, b, c := startThree(t, "signups", func(o *serveOptions) { o.signupLimit = 2 })
	maker := from("203.0.113.9")
	signup := func(at attempt, n *clusterNode, name string) int {
		s, _ := at.post(t, n, "/api/v1/signup", map[string]string{"username": name, "password": clusterPassword})
		return s
	}
	for i, n := range []*clusterNode{a, b} {
		if s := signup(maker, n, fmt.Sprint("made", i)); s != http.StatusCreated {
			t.Fatalf("signup %d through %s: %d", i+1, n.id, s)
		}
	}
	if s := signup(maker, c, "made2"); s != http.StatusTooManyRequests {
		t.Errorf("third signup from one address, through c: %d, want 429", s)
	}
	if s := signup(from("203.0.113.10"), c, "other"); s != http.StatusCreated {
		t.Errorf("signup from another address through c: %d, want 201", s)
	}
}

// A device cookie node a issued lets its holder past the per-username
// limit on node b, which checks it before forwarding the login to the
// owner.
func TestClusterDeviceCookieFromOneNodePassesOnAnother(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	a, b, c := startThree(t, "devices", func(o *serveOptions) {
		o.throttle = auth.ThrottleConfig{UserLimit: 3}
	})
	for _, n := range []*clusterNode{b, c} {
		if !bytes.Equal(n.d.DeviceKey(), a.d.DeviceKey()) {
			t.Errorf("node %s signs device cookies with another key than a", n.id)
		}
	}
	s, cookies := from("192.0.2.50").post(t, a, "/api/v1/signup", map[string]string{"username": "alice", "password": clusterPassword})
	if s != http.StatusCreated {
		t.Fatalf("signup through a: %d", s)
	}
	var device []*http.Cookie
	for _, ck := range cookies {
		if ck.Name == auth.DeviceCookiePrefix+"alice" {
			device = append(device, ck)
		}
	}
	if len(device) != 1 {
		t.Fatalf("signup set %d device cookies", len(device))
	}
	for i := range 3 { // three guesses from three addresses: the username's limit
		if s := from(fmt.Sprint("198.51.100.", i+1)).login(t, c, "alice", "wrong"); s != http.StatusUnauthorized {
			t.Fatalf("guess %d through c: %d", i+1, s)
		}
	}
	if s := from("198.51.100.9").login(t, b, "alice", "wrong"); s != http.StatusTooManyRequests {
		t.Fatalf("a fourth guess through b: %d, want 429", s)
	}
	owner := from("192.0.2.51")
	if s := owner.login(t, b, "alice", clusterPassword); s != http.StatusTooManyRequests {
		t.Fatalf("the owner without her device cookie through b: %d, want 429", s)
	}
	owner.cookies = device
	for _, n := range []*clusterNode{b, c} {
		if s := owner.login(t, n, "alice", clusterPassword); s != http.StatusOK {
			t.Errorf("the owner with a's device cookie through %s: %d, want 200", n.id, s)
		}
	}
}

// Nodes that trust no proxy take a forwarded request's client address
// from the node that forwarded it, and never from a client's own
// X-Forwarded-For or hop headers, even one sent from the nodes' own
// address (on one machine every node is 127.0.0.1). Clients here come
// from distinct loopback addresses; the throttle's pair limit (3) shows
// which address each failure was counted against.
func TestClusterForwardedClientAddressIsBelievedSpoofedIsNot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	a, b, _ := startThree(t, "hops", func(o *serveOptions) {
		o.proxies = nil
		o.throttle = auth.ThrottleConfig{PairLimit: 3}
	})
	for _, name := range []string{"victim", "target"} {
		u := &client{t: t}
		if s, body := u.signup(b, name); s != http.StatusCreated {
			t.Fatalf("signup %s through b: %d %s", name, s, body)
		}
		if s, _ := u.notesOf(b); s != http.StatusOK { // b claims the tenant and keeps it open
			t.Fatalf("notes of %s through b: %d", name, s)
		}
		ownedBy(t, b, name)
	}
	x, y := attempt{hc: clientFrom(t, "127.0.0.10")}, attempt{hc: clientFrom(t, "127.0.0.11")}
	for i := range 3 { // through a, forwarded to b, the owner
		if s := x.login(t, a, "victim", "wrong"); s != http.StatusUnauthorized {
			t.Fatalf("x's guess %d through a: %d", i+1, s)
		}
	}
	if s := x.login(t, b, "victim", "wrong"); s != http.StatusTooManyRequests {
		t.Errorf("x straight at b after three forwarded guesses: %d, want 429 (b counted them against another address)", s)
	}
	if s := y.login(t, a, "victim", "wrong"); s != http.StatusUnauthorized {
		t.Errorf("y through a: %d, want 401 (b counted x's guesses against a's address, so y shares them)", s)
	}

	// A client at the nodes' own address forges everything a forwarded
	// request carries, with a fresh address each time.
	var forged []string
	for i := range 4 {
		addr := fmt.Sprint("198.51.100.", 100+i)
		forged = append(forged, addr)
		at := attempt{headers: map[string]string{
			"X-Forwarded-For":         addr,
			cluster.ClientHeader:      addr,
			cluster.HopHeader:         fmt.Sprintf("v1.%d.AAAA", time.Now().UnixMilli()),
			cluster.ForwardedByHeader: "a",
		}}
		want := http.StatusUnauthorized
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if s := at.login(t, b, "target", "wrong"); s != want {
			t.Errorf("forged guess %d straight at b: %d, want %d (b believed %v)", i+1, s, want, forged)
		}
	}
}

// ownedBy fails the test unless node n owns name's tenant: requests for
// it through any other node are forwarded to n.
func ownedBy(t *testing.T, n *clusterNode, name string) {
	t.Helper()
	tn, err := n.d.Pool().Routing().Lookup(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if own, ok := n.d.Node().Owner(tn.ID); !ok || !own.Mine {
		t.Fatalf("%s is not owned by %s: %+v", name, n.id, own)
	}
}

// clientFrom is an HTTP client whose connections come from the loopback
// address src.
func clientFrom(t *testing.T, src string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// The sign-in path fails closed without etcd: a node cut off answers
// 503 to a login rather than check a guess it cannot count. (Before the
// counts were shared, the same login hung in Directory.Lookup's read of
// etcd, which has no deadline, until the client gave up.)
func TestClusterSignInWithoutEtcdIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and a node")
	}
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	a := startClusterNode(t, etcd, s3, "closed", "a")
	cutOff(t, a, "a")
	if s := from("203.0.113.20").login(t, a, "nobody", "guess"); s != http.StatusServiceUnavailable {
		t.Errorf("login on a node cut off from etcd: %d, want 503", s)
	}
}
