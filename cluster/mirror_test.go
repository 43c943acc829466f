package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/tenant"
)

// TestMirrorRecoversFromCompaction: a watch whose start revision was
// compacted away reads the prefix afresh, so the copy misses nothing.
func TestMirrorRecoversFromCompaction(t *testing.T) {
	e := startEtcd(t)
	n := openNode(t, e.URL(), "a", testTTL)
	ctx := testCtx(t)
	v := newNodeView(n.keys.nodes())
	m := &mirror{cli: n.cli, prefix: n.keys.nodes(), v: v, progressEvery: time.Second,
		moved: make(chan struct{}), done: make(chan struct{}), rev: 1}
	// Changes the mirror has not seen, then their history compacted away.
	for _, id := range []string{"x", "y"} {
		if _, err := n.cli.Put(ctx, n.keys.node(id), `{"advertise":"http://`+id+`:1"}`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.cli.Delete(ctx, n.keys.node("y")); err != nil {
		t.Fatal(err)
	}
	resp, err := n.cli.Get(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.cli.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	m.stop = stop
	go m.run(wctx)
	defer m.close()
	await(t, m, "the mirror reloads after the compaction", func() bool {
		_, x := v.get("x")
		_, a := v.get("a")
		_, y := v.get("y")
		return x && a && !y
	})
	if got, _ := v.get("x"); got.Advertise != "http://x:1" {
		t.Fatalf("x reloaded as %+v", got)
	}
}

// TestStaleCopyIsNotTrusted: a directory whose watch has gone quiet longer
// than it trusts answers from etcd, not from memory; cut off, it fails
// rather than answer from a copy that may be out of date.
func TestStaleCopyIsNotTrusted(t *testing.T) {
	e := startEtcd(t)
	link := clustertest.NewLink(t, e.Addr)
	n := openNode(t, link.URL(), "a", testTTL)
	d := openDirectory(t, n)
	if _, err := d.Create(testCtx(t), "id-1", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lookup(testCtx(t), "alice"); err != nil {
		t.Fatalf("lookup while connected: %v", err)
	}
	link.Cut()
	d.stale = 0 // as if the watch had been silent past the limit
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if got, err := d.Lookup(ctx, "alice"); err == nil || errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("lookup from a stale copy, cut off: %+v, %v; want an etcd error", got, err)
	}
	<-n.Lost() // so that closing it does not wait to revoke a lease it cannot reach
}
