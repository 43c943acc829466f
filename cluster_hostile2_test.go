package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/cubbyhq/cubby/auth"
)

// What a hostile client on the internet can do to a cluster's request
// path (see also cluster/forward_hostile_test.go).

// rawRequest sends raw, a request as bytes, to node from the loopback
// address src and returns the answer's status.
func rawRequest(t *testing.T, node *clusterNode, src, raw string) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", strings.TrimPrefix(node.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", node.id, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
	return resp.StatusCode
}

// A client whose request has a Host that net/http's client would not send
// as it is (none, as HTTP/1.0 allows, or an IPv6 zone) still has its
// failed logins counted against its own address by the owner they are
// forwarded to. The owner used to find the hop's signature wrong (it
// covered a Host other than the one sent), and count them against the
// forwarding node's address instead: every node one more budget of
// guesses, and the client's own untouched.
func TestClusterLoginWithAnOddHostIsCountedAgainstTheClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	a, b, c := startThree(t, "oddhost", func(o *serveOptions) {
		o.proxies = nil
		o.throttle = auth.ThrottleConfig{PairLimit: 3}
	})
	body := func(name string) string { return `{"username":"` + name + `","password":"not the password"}` }
	login := func(host, name string) string {
		return fmt.Sprintf("POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			host, len(body(name)), body(name))
	}
	http10 := func(name string) string {
		return fmt.Sprintf("POST /api/v1/login HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body(name)), body(name))
	}
	for i, tc := range []struct {
		name string
		raw  func(name string) string
		via  *clusterNode
	}{
		{"HTTP/1.0 without Host", http10, a},
		{"an IPv6 zone in Host", func(name string) string { return login("[::1%25lo]:80", name) }, c},
	} {
		victim := fmt.Sprint("victim", i)
		u := &client{t: t}
		if s, body := u.signup(b, victim); s != http.StatusCreated {
			t.Fatalf("signup through b: %d %s", s, body)
		}
		if s, _ := u.notesOf(b); s != http.StatusOK { // b claims the tenant and keeps it open
			t.Fatalf("notes through b: %d", s)
		}
		ownedBy(t, b, victim)
		src := fmt.Sprint("127.0.0.", 20+i)
		for j := range 3 {
			if s := rawRequest(t, tc.via, src, tc.raw(victim)); s != http.StatusUnauthorized {
				t.Fatalf("%s: guess %d through %s: %d, want 401", tc.name, j+1, tc.via.id, s)
			}
		}
		if s := rawRequest(t, b, src, login("cubby.example", victim)); s != http.StatusTooManyRequests {
			t.Errorf("%s: a guess straight at b after three through %s: %d, want 429 (b counted them against %s's address)",
				tc.name, tc.via.id, s, tc.via.id)
		}
	}
}
