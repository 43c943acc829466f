package datadir

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/cubbyhq/cubby/replica/replicatest"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	return len(ents)
}

func TestManyTenantsOverSixteenOpenKeepReplicationBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 1,000 tenants")
	}
	// 300 by default (each open/evict cycle costs a few fsyncs); set
	// CUBBY_TEST_TENANTS=1000 for the figure in BENCHMARKS.md.
	const maxOpen = 16
	tenants := 300
	if n, err := strconv.Atoi(os.Getenv("CUBBY_TEST_TENANTS")); err == nil && n > 2*maxOpen {
		tenants = n
	}
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	d := mustOpenReplicated(t, dir, s3.URL("k"), maxOpen)
	r := d.Replicator()
	ids := make([]string, tenants)
	for i := range ids {
		tn, err := d.Pool().Provision(t.Context(), fmt.Sprintf("user%04d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = tn.ID
	}
	// Warm up: fill the pool, so that what is measured after is churn.
	for i := range 2 * maxOpen {
		writeNotes(t, d, ids[i], 0, 1)
	}
	if err := r.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	g0, fd0, req0 := runtime.NumGoroutine(), openFDs(t), s3.Requests()
	for i := 2 * maxOpen; i < tenants; i++ {
		writeNotes(t, d, ids[i], 0, 1) // opens it and evicts another
	}
	if err := r.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	g1, fd1, req1 := runtime.NumGoroutine(), openFDs(t), s3.Requests()
	churned := int64(tenants - 2*maxOpen)
	t.Logf("goroutines %d → %d, fds %d → %d, S3 requests %d over %d open/evict cycles (%.1f each), attached %d",
		g0, g1, fd0, fd1, req1-req0, churned, float64(req1-req0)/float64(churned), r.Stats().Attached)
	// routing.db, the open tenants, and at most one evicted handle the
	// pool's closer goroutine has not yet closed (this test acquires from
	// one goroutine).
	if a := r.Stats().Attached; a > maxOpen+2 {
		t.Fatalf("%d databases attached over --max-open %d: closed tenants are still replicated", a, maxOpen)
	}
	// What churn may add is bounded by what is open, not by how many
	// tenants came and went: each reused S3 client keeps one idle
	// connection (two goroutines, one descriptor).
	if g1-g0 > 4*maxOpen+64*2 {
		t.Fatalf("goroutines grew by %d over %d tenants", g1-g0, churned)
	}
	if fd1-fd0 > 5*maxOpen+64 {
		t.Fatalf("descriptors grew by %d over %d tenants", fd1-fd0, churned)
	}
	if per := (req1 - req0) / churned; per > 12 {
		t.Fatalf("%d S3 requests per open/evict cycle", per)
	}
}
