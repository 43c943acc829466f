package cluster

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The benchmarks run against an embedded etcd on loopback, so a "round
// trip" here is the cheapest one there can be: gRPC over 127.0.0.1 to a
// member that fsyncs its WAL (on this machine's disk) for writes.

// BenchmarkOwnerCached is the hot path: the owner of a tenant this node
// holds, from the watch-fed cache.
func BenchmarkOwnerCached(b *testing.B) {
	n := openNode(b, startEtcd(b).URL(), "a", 10*time.Second)
	ctx := testCtx(b)
	if _, err := n.Claim(ctx, "t"); err != nil {
		b.Fatal(err)
	}
	await(b, n.om, "cache has the claim", func() bool { _, ok := n.Owner("t"); return ok })
	b.ResetTimer()
	for b.Loop() {
		if own, err := n.Claim(ctx, "t"); err != nil || !own.Mine {
			b.Fatal(own, err)
		}
	}
}

// BenchmarkOwnerRoundTrip is the same answer asked of etcd: the claim
// transaction, which finds the key and reads it.
func BenchmarkOwnerRoundTrip(b *testing.B) {
	n := openNode(b, startEtcd(b).URL(), "a", 10*time.Second)
	ctx := testCtx(b)
	if _, err := n.Claim(ctx, "t"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if own, err := n.claim(ctx, "t"); err != nil || !own.Mine {
			b.Fatal(own, err)
		}
	}
}

// BenchmarkClaimRelease is taking a free tenant and giving it back: two
// writes, the second waiting for this node's watch to see it.
func BenchmarkClaimRelease(b *testing.B) {
	n := openNode(b, startEtcd(b).URL(), "a", 10*time.Second)
	ctx := testCtx(b)
	i := 0
	for b.Loop() {
		i++
		own, err := n.Claim(ctx, fmt.Sprintf("t%d", i))
		if err != nil || !own.Mine {
			b.Fatal(own, err)
		}
		if err := n.Release(ctx, own); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionFind compares a cached session with one read from etcd.
func BenchmarkSessionFind(b *testing.B) {
	e := startEtcd(b)
	s := openSessions(b, openNode(b, e.URL(), "a", 10*time.Second), SessionConfig{})
	exp := time.Now().Add(time.Hour)
	if err := s.Commit("tok", sessionData(b, "t1", exp), exp); err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, ok, err := s.Find("tok"); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("etcd", func(b *testing.B) {
		for b.Loop() {
			if _, ok, err := s.load(digestOf("tok")); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}

// BenchmarkLogoutReachesAnotherNode measures from Delete on one node to the
// other node's cache dropping the session (reported as delete-to-drop).
func BenchmarkLogoutReachesAnotherNode(b *testing.B) {
	e := startEtcd(b)
	a := openSessions(b, openNode(b, e.URL(), "a", 10*time.Second), SessionConfig{})
	c := openSessions(b, openNode(b, e.URL(), "c", 10*time.Second), SessionConfig{})
	exp := time.Now().Add(time.Hour)
	var total time.Duration
	for b.Loop() {
		if err := a.Commit("tok", sessionData(b, "t1", exp), exp); err != nil {
			b.Fatal(err)
		}
		if _, ok, err := c.Find("tok"); !ok || err != nil {
			b.Fatal(ok, err)
		}
		start := time.Now()
		if err := a.Delete("tok"); err != nil {
			b.Fatal(err)
		}
		await(b, c.m, "c drops the session", func() bool { _, ok := c.v.get(digestOf("tok")); return !ok })
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-delete-to-drop/op")
}

// BenchmarkForward compares a GET through a Forwarder with the same GET
// straight to the owner (loopback HTTP both ways).
func BenchmarkForward(b *testing.B) {
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "note")
	}))
	b.Cleanup(owner.Close)
	a := front(b, quietForwarder(b, ForwarderConfig{}), owner.URL)
	get := func(b *testing.B, url string) {
		for b.Loop() {
			resp, err := http.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("direct", func(b *testing.B) { get(b, owner.URL) })
	b.Run("forwarded", func(b *testing.B) { get(b, a.URL) })
}
