package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// BenchmarkClusterFailedLogin is a failed sign-in (an unknown username, so
// a dummy argon2id hash) over HTTP on a cluster node, whose throttle counts
// in etcd, and on a single node, whose throttle counts in memory. Each
// iteration sends one to each, in turn, so that the load of a shared
// machine falls on both alike; the two are reported as single-ms/op and
// cluster-ms/op. Each request is for a fresh username from a fresh client
// address, so none is throttled.
func BenchmarkClusterFailedLogin(b *testing.B) {
	etcd := clustertest.Start(b)
	s3 := replicatest.New(b)
	node := startClusterNode(b, etcd, s3, "bench-login", "a")
	o := serveOptions{data: filepath.Join(b.TempDir(), "data"), maxOpen: 64,
		proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}} // as the cluster rig's nodes
	app, _, d, done, err := openApp(context.Background(), o, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	single := httptest.NewServer(app)
	b.Cleanup(func() { single.Close(); done(); d.Close() })
	var spent [2]time.Duration
	i := 0
	for b.Loop() {
		i++
		for j, url := range []string{single.URL, node.url} {
			req, _ := http.NewRequest("POST", url+"/api/v1/login",
				strings.NewReader(fmt.Sprintf(`{"username":"nobody%d","password":"wrong password"}`, i)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			spent[j] += time.Since(start)
			if resp.StatusCode != http.StatusUnauthorized {
				b.Fatalf("login: %d", resp.StatusCode)
			}
		}
	}
	b.ReportMetric(float64(spent[0].Microseconds())/1000/float64(i), "single-ms/op")
	b.ReportMetric(float64(spent[1].Microseconds())/1000/float64(i), "cluster-ms/op")
}
