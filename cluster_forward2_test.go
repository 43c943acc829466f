package main

import (
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// What a client sees of a request a node forwards to its tenant's owner:
// the same headers as from any other answer, and the whole of a large
// answer at any fair pace.

// startTwo starts nodes a and b on one etcd and one bucket, and signs name
// up through b, which then owns name's tenant.
func startTwo(t *testing.T, prefix, name string) (a, b *clusterNode, u *client) {
	t.Helper()
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	a, b = startClusterNode(t, etcd, s3, prefix, "a"), startClusterNode(t, etcd, s3, prefix, "b")
	u = &client{t: t}
	if s, body := u.signup(b, name); s != http.StatusCreated {
		t.Fatalf("signup through b: %d %s", s, body)
	}
	if s, _ := u.notesOf(b); s != http.StatusOK { // b claims the tenant
		t.Fatalf("notes through b: %d", s)
	}
	ownedBy(t, b, name)
	return a, b, u
}

// headersOf sends GET path as u to node with the header pairs kv and
// returns the answer's status and headers.
func (c *client) headersOf(node *clusterNode, path string, kv ...string) (int, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest("GET", node.url+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	req.AddCookie(&http.Cookie{Name: "session", Value: c.session})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s through %s: %v", path, node.id, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the headers matter
	return resp.StatusCode, resp.Header
}

// Every answer a node gives, forwarded or not, carries the headers any
// answer of a node carries, once each, and never the mark meant for
// nodes: a failed forward's 503 used to carry none of them (its headers
// were cleared for the owner's and never put back), and a client that
// sent X-Cubby-Forwarded-By itself was shown X-Cubby-Not-Serving.
func TestClusterEveryForwardedAnswerCarriesTheSecurityHeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and two nodes")
	}
	a, b, u := startTwo(t, "headers", "hostile")
	names := []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "Cache-Control"}
	_, direct := u.headersOf(b, "/api/v1/me")
	check := func(what, path string, status, want int, h http.Header) {
		t.Helper()
		if status != want {
			t.Errorf("%s, %s: %d, want %d", what, path, status, want)
		}
		for _, k := range names {
			if got, want := h.Values(k), direct.Values(k); len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("%s, %s: %s %q, want %q", what, path, k, got, want)
			}
		}
		if got := h.Values("X-Request-Id"); len(got) != 1 || got[0] != "probe-1" {
			t.Errorf("%s, %s: X-Request-Id %q, want the request's own", what, path, got)
		}
		if got := h.Get(cluster.NotServingHeader); got != "" {
			t.Errorf("%s, %s: the client sees %s %q", what, path, cluster.NotServingHeader, got)
		}
	}
	for _, path := range []string{"/api/v1/me", "/notes"} {
		s, h := u.headersOf(a, path, "X-Request-Id", "probe-1")
		check("forwarded to b", path, s, http.StatusOK, h)
		s, h = u.headersOf(a, path, "X-Request-Id", "probe-1", cluster.ForwardedByHeader, "x")
		check("claiming to be forwarded", path, s, http.StatusServiceUnavailable, h)
	}
	b.srv.Close() // b still owns the tenant, but takes no connection
	for _, path := range []string{"/api/v1/me", "/notes"} {
		s, h := u.headersOf(a, path, "X-Request-Id", "probe-1")
		check("b's listener closed", path, s, http.StatusServiceUnavailable, h)
	}
}
