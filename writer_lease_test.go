package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
	"github.com/cubbyhq/cubby/tenant"
)

// The writer lease with the real commands and its default TTL (30s): a
// serve or a delete-user pointed at a prefix a live server replicates to
// watches the lease for one TTL, sees it refreshed, and exits refusing.
func TestServeAndDeleteUserRefuseAPrefixALiveServerReplicatesTo(t *testing.T) {
	s3 := replicatest.New(t)
	url := s3.URL("live")
	stale := replicatedDir(t, s3, "live", "alice") // a copy that replicated there once
	var log syncBuffer
	stop := startServe(t, freeAddr(t), &log, "--replicate-to", url) // restores alice from the bucket
	if !strings.Contains(log.String(), "restored routing.db from the replica") {
		t.Fatalf("the live server did not restore the prefix:\n%s", log.String())
	}
	empty := t.TempDir()
	staleBefore := statAll(t, []string{filepath.Join(stale, tenant.RoutingFile)})
	runs := [][]string{
		{"serve", "--data", empty, "--addr", "127.0.0.1:0", "--replicate-to", url},
		{"delete-user", "--data", stale, "--replicate-to", url, "alice"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a serve that is not refused stops here
	defer cancel()
	var wg sync.WaitGroup
	codes, outs := make([]int, len(runs)), make([]string, len(runs))
	for i, args := range runs {
		wg.Go(func() { codes[i], _, outs[i] = runCubby(t, ctx, args...) })
	}
	wg.Wait()
	for i, args := range runs {
		for _, want := range []string{"another server replicates to this prefix", "pid " + strconv.Itoa(os.Getpid()),
			"stop that server, or use another prefix"} {
			if codes[i] != exitFailure || !strings.Contains(outs[i], want) {
				t.Fatalf("%v: exit %d, want %d saying %q; stderr:\n%s", args, codes[i], exitFailure, want, outs[i])
			}
		}
	}
	if ents, err := os.ReadDir(empty); err != nil || len(ents) != 0 {
		t.Fatalf("the refused serve left %v in its data directory (%v)", ents, err)
	}
	if after := statAll(t, []string{filepath.Join(stale, tenant.RoutingFile)}); !slices.Equal(after, staleBefore) {
		t.Fatal("the refused delete-user changed its routing.db")
	}
	if n := sqlCount(t, filepath.Join(stale, tenant.RoutingFile), "SELECT count(*) FROM tenants WHERE username = 'alice'"); n != 1 {
		t.Fatal("the refused delete-user deleted alice")
	}
	if code := stop(); code != exitOK {
		t.Fatalf("the live server exited %d:\n%s", code, log.String())
	}
	if keys := s3.Keys(t, "live/writer"); len(keys) != 0 {
		t.Fatalf("the lease outlived a graceful stop: %v", keys)
	}
}

// A server whose lease another server took exits non-zero at its next
// refresh (a third of the default TTL), saying why.
func TestServeExitsWhenAnotherServerTakesItsPrefixOver(t *testing.T) {
	s3 := replicatest.New(t)
	addr := freeAddr(t)
	var log syncBuffer
	done := make(chan int, 1)
	args := []string{"serve", "--addr", addr, "--data", t.TempDir(), "--replicate-to", s3.URL("took")}
	go func() { done <- run(context.Background(), args, io.Discard, &log) }()
	waitReady(t, "http://"+addr, done)
	s3.Put(t, "took/writer", []byte(`{"id":"another","host":"elsewhere","pid":7}`))
	select {
	case code := <-done:
		if code != exitFailure || !strings.Contains(log.String(), "another server took over the replica prefix") {
			t.Fatalf("exit %d, want %d saying why:\n%s", code, exitFailure, log.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("serve went on after another server took its prefix over")
	}
	if b := string(s3.Get(t, "took/writer")); !strings.Contains(b, "elsewhere") {
		t.Fatalf("the new holder's lease became %q", b)
	}
}

// Cluster nodes share one prefix and are fenced by etcd: they take no
// writer lease, and two of them serve side by side.
func TestClusterNodesTakeNoWriterLease(t *testing.T) {
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	a := startClusterNode(t, etcd, s3, "cw", "a")
	b := startClusterNode(t, etcd, s3, "cw", "b")
	for _, n := range []*clusterNode{a, b} {
		if code, _, _ := httpGet(t, n.url+"/readyz"); code != http.StatusOK {
			t.Fatalf("node %s is not ready: %d", n.id, code)
		}
	}
	if keys := s3.Keys(t, "cw/writer"); len(keys) != 0 {
		t.Fatalf("a cluster node took the writer lease: %v", keys)
	}
}
