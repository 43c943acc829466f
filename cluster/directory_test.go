package cluster

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// openDirectory opens n's directory and closes it when the test ends
// (before the node: cleanups run last first).
func openDirectory(t testing.TB, n *Node) *Directory {
	t.Helper()
	d, err := OpenDirectory(testCtx(t), n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestSignupRaceAcrossNodesHasOneWinner(t *testing.T) {
	e := startEtcd(t)
	var dirs []*Directory
	for _, id := range []string{"a", "b", "c"} {
		dirs = append(dirs, openDirectory(t, openNode(t, e.URL(), id, testTTL)))
	}
	const perNode = 4
	var (
		wg              sync.WaitGroup
		wins, taken     atomic.Int64
		mu              sync.Mutex
		winner, unknown []string
	)
	start := make(chan struct{})
	for i, d := range dirs {
		for j := range perNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				id := fmt.Sprintf("id%d%d", i, j)
				_, err := d.Create(testCtx(t), id, "Alice")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins.Add(1)
					winner = append(winner, id)
				case errors.Is(err, tenant.ErrExists):
					taken.Add(1)
				default:
					unknown = append(unknown, err.Error())
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || taken.Load() != int64(len(dirs)*perNode-1) || len(unknown) > 0 {
		t.Fatalf("%d wins, %d already-exists, other errors %v; want exactly one winner", wins.Load(), taken.Load(), unknown)
	}
	for i, d := range dirs {
		got, err := d.Lookup(testCtx(t), "ALICE")
		if err != nil || got.ID != winner[0] || got.Username != "alice" || got.State != tenant.StateProvisioning {
			t.Errorf("node %d looks up alice: %+v, %v; want id %s", i, got, err, winner[0])
		}
	}
}

func TestDirectoryLifecycleIsSeenByEveryNode(t *testing.T) {
	e := startEtcd(t)
	a, b := openDirectory(t, openNode(t, e.URL(), "a", testTTL)), openDirectory(t, openNode(t, e.URL(), "b", testTTL))
	ctx := testCtx(t)
	names := []string{"carol", "alice", "erin", "bob", "dave"}
	for i, name := range names {
		if _, err := a.Create(ctx, fmt.Sprintf("id-%d", i), name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Create(ctx, "id-0", "frank"); err == nil || errors.Is(err, tenant.ErrExists) {
		t.Fatalf("a second tenant with a used id: %v; want an id-in-use error", err)
	}
	if _, err := a.Create(ctx, "x", "a/b"); !errors.Is(err, ErrBadTenantID) {
		t.Fatalf("a username with a slash: %v, want ErrBadTenantID", err)
	}

	if err := a.SetState(ctx, "id-1", tenant.StateActive, 3, ""); err != nil {
		t.Fatal(err)
	}
	await(t, b.m, "b sees alice active", func() bool {
		got, ok := b.v.byID("id-1")
		return ok && got.State == tenant.StateActive && got.SchemaVersion == 3
	})
	if err := b.SetState(ctx, "nope", tenant.StateActive, 1, ""); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("set state of an unknown id: %v, want ErrNotFound", err)
	}

	var got []string
	for after := ""; ; {
		page, err := b.List(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			got = append(got, p.Username)
		}
		after = page[len(page)-1].Username
	}
	if fmt.Sprint(got) != "[alice bob carol dave erin]" {
		t.Fatalf("listed %v, want every user in order", got)
	}
	if n, err := a.Count(ctx); err != nil || n != 5 {
		t.Fatalf("count: %d, %v; want 5", n, err)
	}

	if err := b.Remove(ctx, "id-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(ctx, "id-1"); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	await(t, a.m, "a sees alice gone", func() bool { _, ok := a.v.byName("alice"); return !ok })
	for _, d := range []*Directory{a, b} {
		if _, err := d.Lookup(ctx, "alice"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("lookup of a removed user: %v, want ErrNotFound", err)
		}
		if _, err := d.Get(ctx, "id-1"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("get of a removed user: %v, want ErrNotFound", err)
		}
	}
	if _, err := a.Create(ctx, "id-9", "alice"); err != nil {
		t.Fatalf("the name of a removed user is free again: %v", err)
	}
}

// TestDirectoryHitMakesNoRoundTrip counts the etcd client's requests.
func TestDirectoryHitMakesNoRoundTrip(t *testing.T) {
	e := startEtcd(t)
	var calls atomic.Int64
	d := openDirectory(t, openNodeWith(t, e.URL(), "a", testTTL, &calls))
	ctx := testCtx(t)
	if _, err := d.Create(ctx, "id-1", "alice"); err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	ctx = counted(t)
	for range 100 {
		if _, err := d.Lookup(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Get(ctx, "id-1"); err != nil {
			t.Fatal(err)
		}
	}
	// Only calls made for these reads count, not the background ones.
	if n := calls.Load() - before; n != 0 {
		t.Fatalf("200 cached reads made %d etcd requests", n)
	}
}

// TestQuietDirectoryStaysTrusted: with no writes at all for longer than
// the copy is trusted without word from etcd, the probes keep it current,
// so a cached read still makes no etcd request on the request's behalf.
func TestQuietDirectoryStaysTrusted(t *testing.T) {
	e := startEtcd(t)
	var calls atomic.Int64
	d := openDirectory(t, openNodeWith(t, e.URL(), "a", testTTL, &calls))
	if _, err := d.Create(testCtx(t), "id-1", "alice"); err != nil {
		t.Fatal(err)
	}
	quietSince := time.Now()
	await(t, d.m, "the copy proven current after a quiet stale period", func() bool {
		d.m.mu.Lock()
		heard := d.m.heard
		d.m.mu.Unlock()
		return heard.Sub(quietSince) > d.stale
	})
	before := calls.Load()
	if _, err := d.Lookup(counted(t), "alice"); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load() - before; n != 0 {
		t.Fatalf("a cached read after a quiet spell made %d etcd requests", n)
	}
}
