// Package clustertest runs an embedded etcd server and a cuttable TCP
// link to it, for the tests of package cluster and of whatever wires it.
// It is the only place that imports etcd's server, so the server is linked
// into test binaries only, never into cubby itself.
package clustertest

import (
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// readyTimeout bounds how long Start waits for the server to be ready.
const readyTimeout = 30 * time.Second

// Etcd is one embedded etcd member on loopback.
type Etcd struct {
	// Addr is HOST:PORT of the client listener.
	Addr string
	e    *embed.Etcd
	stop sync.Once
}

// startAttempts is how often Start tries fresh ports: a port found free
// may be taken by another process before etcd binds it.
const startAttempts = 3

// Start runs a single-member etcd with its data in a t.TempDir, on free
// loopback ports, and stops it when the test ends.
func Start(t testing.TB) *Etcd {
	t.Helper()
	var err error
	for range startAttempts {
		var e *embed.Etcd
		var client url.URL
		if e, client, err = start(t); err == nil {
			s := &Etcd{Addr: client.Host, e: e}
			t.Cleanup(s.Stop)
			s.wait(t)
			return s
		}
	}
	t.Fatalf("start etcd (%d attempts): %v", startAttempts, err)
	return nil
}

// start starts a member on ports that were free a moment ago.
func start(t testing.TB) (*embed.Etcd, url.URL, error) {
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = t.TempDir()
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.ListenMetricsUrls = nil
	client, peer := freeURL(t), freeURL(t)
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	return e, client, err
}

// wait waits until the member serves.
func (s *Etcd) wait(t testing.TB) {
	t.Helper()
	select {
	case <-s.e.Server.ReadyNotify():
	case err := <-s.e.Err():
		t.Fatalf("etcd failed: %v", err)
	case <-time.After(readyTimeout):
		t.Fatalf("etcd not ready after %v", readyTimeout)
	}
}

// URL is the etcd:// URL of the member, as cubby's --cluster takes it.
func (s *Etcd) URL() string { return "etcd://" + s.Addr }

// Stop stops the member and waits for it. It is safe to call twice.
func (s *Etcd) Stop() { s.stop.Do(s.e.Close) }

// freeURL is an http URL on a loopback port that was free a moment ago.
// (embed needs the port up front: the peer URL is part of the member's
// identity.)
func freeURL(t testing.TB) url.URL {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("free port %s: %v", addr, err)
	}
	return url.URL{Scheme: "http", Host: addr}
}

// String names the member for test logs.
func (s *Etcd) String() string { return fmt.Sprintf("etcd at %s", s.Addr) }
