package cluster

import (
	"sync"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// TestStuckSignupIsSweptOnceAndOnlyWhenStuck: three nodes sweep at once; a
// record provisioning for longer than the bound is removed by exactly one
// of them, with its index and replica pointer; a fresh one and one whose
// signup completed are left alone.
func TestStuckSignupIsSweptOnceAndOnlyWhenStuck(t *testing.T) {
	e := startEtcd(t)
	var dirs []*Directory
	for _, id := range []string{"a", "b", "c"} {
		dirs = append(dirs, openDirectory(t, openNode(t, e.URL(), id, testTTL)))
	}
	ctx := testCtx(t)
	d := dirs[0]
	if _, err := d.Create(ctx, "stuckid", "crashed"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(ctx, "doneid", "done"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetState(ctx, "doneid", tenant.StateActive, 1, ""); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	d.now = func() time.Time { return later } // made an hour after the others
	if _, err := d.Create(ctx, "freshid", "fresh"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.cli.Put(ctx, d.keys.replica("stuckid"), "7"); err != nil {
		t.Fatal(err)
	}
	for _, x := range dirs {
		await(t, x.m, "every node sees the records", func() bool {
			_, ok := x.v.byName("fresh")
			return ok
		})
		x.now = func() time.Time { return later.Add(time.Minute) }
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		removed []string
	)
	for _, x := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts, err := x.SweepStuck(ctx, 10*time.Minute)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, tn := range ts {
				removed = append(removed, tn.ID)
			}
		}()
	}
	wg.Wait()
	if len(removed) != 1 || removed[0] != "stuckid" {
		t.Fatalf("the sweeps removed %v, want [stuckid] once", removed)
	}
	for _, key := range []string{d.keys.user("crashed"), d.keys.id("stuckid"), d.keys.replica("stuckid")} {
		if resp, err := d.cli.Get(ctx, key); err != nil || len(resp.Kvs) != 0 {
			t.Errorf("%s is still there (%v)", key, err)
		}
	}
	for _, name := range []string{"done", "fresh"} {
		if _, err := d.Lookup(ctx, name); err != nil {
			t.Errorf("%s was swept: %v", name, err)
		}
	}
}
