package cluster

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/auth"
)

// BenchmarkSignInCount is what the login throttle adds to one failed
// sign-in (Begin, counted as a failure), with its counts in memory (one
// node) and in etcd (a cluster), beside the argon2id hash with cubby's
// default parameters that every failed sign-in costs anyway: the
// baseline, in the same run. Each attempt is a fresh client address, the
// worst case for the etcd cache (a guess of "absent", right the first
// time); "etcd, same address" is a guesser who keeps one address.
func BenchmarkSignInCount(b *testing.B) {
	ctx := context.Background()
	counts := NewCounts(openNode(b, startEtcd(b).URL(), "a", 10*time.Second), CountsConfig{})
	limits := auth.ThrottleConfig{PairLimit: 1 << 30, AddrLimit: 1 << 30, UserLimit: 1 << 30}
	shared := limits
	shared.Counter = counts
	for _, c := range []struct {
		name string
		th   *auth.Throttle
		same bool
	}{
		{"memory", auth.NewThrottle(limits), false},
		{"etcd", auth.NewThrottle(shared), false},
		{"etcd, same address", auth.NewThrottle(shared), true},
	} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				addr := "192.0.2.1"
				if !c.same {
					addr = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
				}
				i++
				if _, ok, err := c.th.Begin(ctx, "alice", addr, false); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
	b.Run("etcd, right password (begin + passed)", func(b *testing.B) {
		th := auth.NewThrottle(shared)
		for b.Loop() {
			if _, ok, err := th.Begin(ctx, "bob", "192.0.2.2", false); !ok || err != nil {
				b.Fatal(ok, err)
			}
			if err := th.Passed(ctx, "bob", "192.0.2.2"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("argon2id hash (default params)", func(b *testing.B) {
		h := auth.NewHasher(auth.DefaultParams(), 1)
		for b.Loop() {
			if _, err := h.Hash(ctx, "correct horse battery"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHop is what vouching for a forwarded request's client address
// costs: signing on the forwarding node, checking on the owner, and the
// check on a request that carries no hop (every request a client sends
// straight to a node).
func BenchmarkHop(b *testing.B) {
	h := testHop(b, 1, nil)
	b.Run("sign", func(b *testing.B) {
		out := httptest.NewRequest("POST", "/api/v1/login", nil)
		out.Header.Set(ForwardedByHeader, "a")
		for b.Loop() {
			h.sign(out, "203.0.113.9")
		}
	})
	b.Run("check", func(b *testing.B) {
		r := signed(h)
		for b.Loop() {
			if _, ok := h.Client(r); !ok {
				b.Fatal("not vouched")
			}
		}
	})
	b.Run("no hop", func(b *testing.B) {
		r := httptest.NewRequest("GET", "/api/v1/notes", nil)
		for b.Loop() {
			if _, ok := h.Client(r); ok {
				b.Fatal("vouched")
			}
		}
	})
}
