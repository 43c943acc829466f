package tenant

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The pool remembers when it last opened each tenant's file, says which
// are open now, and forgets a deleted tenant.
func TestActivityRecordsOpensAndForgetsDeletedTenants(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ahead atomic.Int64
	now := func() time.Time { return start.Add(time.Duration(ahead.Load())) }
	p := newTestPool(t, Config{MaxOpen: 1, Now: now})
	a, b := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	p.drainClosing()
	if got := p.Activity([]string{a.ID, b.ID, "nobody"}); got[0].Open || !got[1].LastOpened.IsZero() || got[2] != (Activity{}) {
		t.Fatalf("before any acquire: %+v", got)
	}

	_, release, err := p.Acquire(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	release()
	ahead.Store(int64(time.Hour))
	_, release, err = p.Acquire(ctx, b.ID) // evicts alice (MaxOpen 1)
	if err != nil {
		t.Fatal(err)
	}
	release()
	p.drainClosing()
	got := p.Activity([]string{a.ID, b.ID})
	if got[0].Open || !got[0].LastOpened.Equal(start) {
		t.Errorf("alice, evicted: %+v; want closed, last opened %v", got[0], start)
	}
	if !got[1].Open || !got[1].LastOpened.Equal(start.Add(time.Hour)) {
		t.Errorf("bob, open: %+v; want open, last opened an hour later", got[1])
	}

	if err := p.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if got := p.Activity([]string{a.ID}); got[0] != (Activity{}) {
		t.Errorf("deleted alice: %+v; want nothing", got[0])
	}
}

// Failed lists the failed tenants first by name within a limit and counts
// them all; CountBehind counts the tenants below a schema version, but not
// those still being provisioned.
func TestFailedAndCountBehindReadTheDirectory(t *testing.T) {
	ctx := context.Background()
	p := newTestPool(t, Config{})
	d := p.Directory()
	ts := map[string]Tenant{}
	for _, name := range []string{"ann", "bea", "cy", "dee"} {
		ts[name] = mustProvision(t, p, name)
	}
	for _, name := range []string{"dee", "bea", "cy"} {
		if err := d.setState(ctx, ts[name].ID, StateFailed, 1, "migration 2: boom "+name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.create(ctx, "00000000000000000000000000000001", "eve"); err != nil { // provisioning, version 0
		t.Fatal(err)
	}
	failed, n, err := d.Failed(ctx, 2)
	if err != nil || n != 3 || len(failed) != 2 || failed[0].Username != "bea" || failed[1].Username != "cy" ||
		failed[0].Error != "migration 2: boom bea" {
		t.Errorf("Failed(2) = %+v, %d, %v; want bea and cy of 3", failed, n, err)
	}
	if behind, err := d.CountBehind(ctx, p.SchemaVersion()); err != nil || behind != 3 {
		t.Errorf("CountBehind(%d) = %d, %v; want the 3 failed at version 1", p.SchemaVersion(), behind, err)
	}
	if behind, err := d.CountBehind(ctx, 1); err != nil || behind != 0 {
		t.Errorf("CountBehind(1) = %d, %v; want 0", behind, err)
	}
}

// The operator page's queries read an index, not every tenant row: with
// 100,000 tenants a full scan made the page cost over 100 ms.
func TestOperatorQueriesUseTheirIndexes(t *testing.T) {
	p := newTestPool(t, Config{})
	for _, tc := range []struct{ query, index string }{
		{countFailedQuery, "tenants_state"},
		{listFailedQuery, "tenants_state"},
		{countBehindQuery, "tenants_version"},
	} {
		rows, err := p.Directory().DB().Query("EXPLAIN QUERY PLAN "+tc.query, 1)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, "INDEX "+tc.index) || strings.Contains(joined, "SCAN tenants;") ||
			joined == "SCAN tenants" {
			t.Errorf("%s\nplan: %s; want it to use %s", tc.query, joined, tc.index)
		}
	}
}
