package datadir

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/replica/replicatest"
	"github.com/cubbyhq/cubby/tenant"
)

// The figures of BENCHMARKS.md's replication section. They take minutes
// and wait on Litestream's clocks, so they run only when asked:
//
//	CUBBY_REPL_FIGURES=1 go test -count=1 -run ReplicationFigures -v ./datadir/
func TestReplicationFigures(t *testing.T) {
	if os.Getenv("CUBBY_REPL_FIGURES") == "" {
		t.Skip("set CUBBY_REPL_FIGURES=1 to measure")
	}
	t.Run("CommitToUpload", figCommitToUpload)
	t.Run("PerTenantCost", figPerTenantCost)
	t.Run("OpenEvict", figOpenEvict)
	t.Run("Idle", figIdle)
	t.Run("RestoreBySize", figRestoreBySize)
	t.Run("RestoreThousand", figRestoreThousand)
}

// openFig opens a replicated data directory with Litestream's default
// clocks (the ones serve runs with).
func openFig(t *testing.T, s3 *replicatest.S3, prefix string, maxOpen int) (*DataDir, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	o := testOptions(t)
	o.Create = true
	o.Pool.MaxOpen = maxOpen
	if s3 != nil {
		o.Replicate = replica.Config{URL: s3.URL(prefix)}
	}
	d, err := Open(t.Context(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dir
}

func pct(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

func figCommitToUpload(t *testing.T) {
	s3 := replicatest.New(t)
	d, _ := openFig(t, s3, "c", 16)
	id := addNotes(t, d, "alice", 1)
	time.Sleep(3 * time.Second) // let the first snapshot ship
	const n = 40
	var lat []time.Duration
	req0, up0 := s3.Requests(), d.Replicator().Stats().BytesUp
	for i := range n {
		// Litestream looks at the WAL once a second: write at a random
		// moment of that second, as users do.
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
		puts := s3.Puts()
		start := time.Now()
		writeNotes(t, d, id, 1+i, 2+i)
		for s3.Puts() == puts {
			time.Sleep(time.Millisecond) // polling the fake S3: nothing to wait on
		}
		lat = append(lat, time.Since(start))
	}
	st := d.Replicator().Stats()
	t.Logf("commit-to-upload over %d single-note writes: p50 %v, p99 %v; %.1f S3 requests and %.0f bytes up per write",
		n, pct(lat, .5).Round(time.Millisecond), pct(lat, .99).Round(time.Millisecond),
		float64(s3.Requests()-req0)/n, float64(st.BytesUp-up0)/n)
}

func figPerTenantCost(t *testing.T) {
	const n = 200
	measure := func(s3 *replicatest.S3) (g, fds int, heap uint64) {
		d, _ := openFig(t, s3, "p", n+16)
		ids := make([]string, n)
		for i := range ids {
			tn, err := d.Pool().Provision(t.Context(), fmt.Sprintf("u%03d", i), nil)
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = tn.ID
		}
		var rels []func()
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		g0, f0 := runtime.NumGoroutine(), openFDs(t)
		for _, id := range ids {
			_, rel, err := d.Pool().Acquire(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			rels = append(rels, rel)
		}
		time.Sleep(3 * time.Second) // Litestream opens its connection at its first sync
		runtime.GC()
		runtime.ReadMemStats(&m1)
		g, fds, heap = runtime.NumGoroutine()-g0, openFDs(t)-f0, m1.HeapInuse-m0.HeapInuse
		for _, rel := range rels {
			rel()
		}
		d.Close()
		return g, fds, heap
	}
	g0, f0, h0 := measure(nil)
	s3 := replicatest.New(t)
	g1, f1, h1 := measure(s3)
	t.Logf("per open tenant, without → with replication: goroutines %.1f → %.1f, fds %.1f → %.1f, heap %.0f → %.0f KiB",
		float64(g0)/n, float64(g1)/n, float64(f0)/n, float64(f1)/n, float64(h0)/n/1024, float64(h1)/n/1024)
}

func figOpenEvict(t *testing.T) {
	s3 := replicatest.New(t)
	d, _ := openFig(t, s3, "o", 4)
	var ids []string
	for i := range 40 {
		ids = append(ids, addNotes(t, d, fmt.Sprintf("u%02d", i), 3))
	}
	r := d.Replicator()
	if err := r.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	req0, st0 := s3.Requests(), r.Stats()
	for _, id := range ids { // read-only opens; each evicts another
		if _, err := titles(t, d, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	t.Logf("open + evict of a tenant with no new writes: %.1f S3 requests, %.0f bytes up, %.0f bytes down",
		float64(s3.Requests()-req0)/40, float64(st.BytesUp-st0.BytesUp)/40, float64(st.BytesDown-st0.BytesDown)/40)
}

func figIdle(t *testing.T) {
	s3 := replicatest.New(t)
	d, _ := openFig(t, s3, "i", 32)
	var rels []func()
	for i := range 16 {
		id := addNotes(t, d, fmt.Sprintf("u%02d", i), 2)
		_, rel, err := d.Pool().Acquire(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, rel)
	}
	// The first level-1 compaction (30 s) ships the writes above; idle
	// starts after it.
	time.Sleep(40 * time.Second)
	req0 := s3.Requests()
	time.Sleep(60 * time.Second) // two more compaction ticks
	t.Logf("16 open idle tenants + routing.db, after their first compaction: %d S3 requests in 60 s (%.2f per database per minute)",
		s3.Requests()-req0, float64(s3.Requests()-req0)/17)
	for _, rel := range rels {
		rel()
	}
}

func figRestoreBySize(t *testing.T) {
	for _, mib := range []int{1, 4, 16} {
		s3 := replicatest.New(t)
		d, dir := openFig(t, s3, "s", 4)
		tn, err := d.Pool().Provision(t.Context(), "big", nil)
		if err != nil {
			t.Fatal(err)
		}
		s, rel, err := d.Pool().Acquire(t.Context(), tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		body := strings.Repeat("y", 64<<10)
		for range mib * 16 {
			if _, err := s.ExecContext(t.Context(), "INSERT INTO notes (title, body, created_at, updated_at) VALUES ('t', ?, '', '')", body); err != nil {
				t.Fatal(err)
			}
		}
		rel()
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(tenant.FilePath(dir, tn.ID))
		out := filepath.Join(t.TempDir(), "r")
		start := time.Now()
		if _, err := RestoreFromReplica(t.Context(), s3.URL("s"), out, ReplicaRestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("restore of routing.db + one tenant of %.1f MiB: %v", float64(fi.Size())/(1<<20), time.Since(start).Round(time.Millisecond))
	}
}

func figRestoreThousand(t *testing.T) {
	const n = 1000
	s3 := replicatest.New(t)
	d, _ := openFig(t, s3, "t", 64)
	for i := range n {
		addNotes(t, d, fmt.Sprintf("u%04d", i), 2)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, jobs := range []int{8, 32} {
		out := filepath.Join(t.TempDir(), "r")
		start := time.Now()
		rep, err := RestoreFromReplica(t.Context(), s3.URL("t"), out, ReplicaRestoreOptions{Jobs: jobs})
		if err != nil || rep.Tenants != n {
			t.Fatalf("restored %d: %v", rep.Tenants, err)
		}
		t.Logf("restore --from of %d tenants (2 notes each), --jobs %d: %v", n, jobs, time.Since(start).Round(time.Millisecond))
	}
}
