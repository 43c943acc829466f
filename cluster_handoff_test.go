package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// TestACleanHandOffLosesNothing writes users of several sizes through
// node a (which owns them), with no sync asked for, then stops a cleanly:
// it closes each file, waits for its final sync to reach the bucket and
// only then gives the claim up. Every note must then read the same
// through node b, which restores them from the bucket; how long each
// first read took is logged (the move time, by size).
func TestACleanHandOffLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and two nodes")
	}
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	a := startClusterNode(t, etcd, s3, "move", "a")
	b := startClusterNode(t, etcd, s3, "move", "b")
	sizes := []int{0, 1, 8} // MiB of note bodies
	body := strings.Repeat("x", 512<<10)
	users := make([]*client, len(sizes))
	before := make([]string, len(sizes))
	for i, mib := range sizes {
		users[i] = &client{t: t}
		name := fmt.Sprintf("mover%d", mib)
		if s, out := users[i].do(a, "POST", "/api/v1/signup", map[string]string{"username": name, "password": clusterPassword}); s != http.StatusCreated {
			t.Fatalf("signup %s: %d %s", name, s, out)
		}
		for k := range 2*mib + 1 {
			b := body
			if mib == 0 {
				b = "small"
			}
			if s, out := users[i].do(a, "POST", "/api/v1/notes", map[string]string{"title": fmt.Sprintf("n%03d", k), "body": b}); s != http.StatusCreated {
				t.Fatalf("note %d of %s: %d %s", k, name, s, out)
			}
		}
		s, titles := users[i].notesOf(a)
		if s != http.StatusOK {
			t.Fatalf("notes of %s through a: %d", name, s)
		}
		before[i] = joined(titles)
	}
	a.stop(t) // clean: final syncs, then releases, then the lease is revoked
	for i, mib := range sizes {
		start := time.Now()
		s, titles := users[i].notesOf(b)
		took := time.Since(start)
		if s != http.StatusOK || joined(titles) != before[i] {
			t.Fatalf("after a clean hand-off, mover%d reads %d %v through b, want %s", mib, s, titles, before[i])
		}
		t.Logf("mover%d (~%d MiB of notes): first read through b, claim + restore from the bucket included, took %v",
			mib, mib, took.Round(time.Millisecond))
	}
}
