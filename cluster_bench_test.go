package main

import (
	"net/http"
	"testing"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// BenchmarkClusterRead reads one user's notes (GET /api/v1/notes, 3
// notes) through the node that owns the tenant and through another node,
// which forwards it: the difference is what forwarding costs. Both are hot
// (session cached, tenant open), so neither makes an etcd request.
func BenchmarkClusterRead(b *testing.B) {
	etcd := clustertest.Start(b)
	s3 := replicatest.New(b)
	owner := startClusterNode(b, etcd, s3, "bench", "a")
	other := startClusterNode(b, etcd, s3, "bench", "b")
	u := &client{t: b}
	if s, body := u.do(owner, "POST", "/api/v1/signup", map[string]string{"username": "reader", "password": clusterPassword}); s != http.StatusCreated {
		b.Fatalf("signup: %d %s", s, body)
	}
	for range 3 {
		if s, _ := u.do(owner, "POST", "/api/v1/notes", map[string]string{"title": "a note"}); s != http.StatusCreated {
			b.Fatalf("note: %d", s)
		}
	}
	for _, tc := range []struct {
		name string
		node *clusterNode
	}{{"owner", owner}, {"forwarded", other}} {
		b.Run(tc.name, func(b *testing.B) {
			u.t = b
			for b.Loop() {
				if s, _ := u.notesOf(tc.node); s != http.StatusOK {
					b.Fatalf("read through %s: %d", tc.node.id, s)
				}
			}
		})
	}
}
