package tenant

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssKiB reads this process's resident set size.
func rssKiB(tb testing.TB) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc here")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

func openFDs(tb testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skip("no /proc here")
	}
	return len(ents)
}

// BenchmarkScale: start-up (open routing.db, NewPool, Recover) and
// username lookups with 100,000 tenants, against the same with 100
// (the baseline). Start-up and RSS must not grow with the tenant count
// beyond routing.db's own pages.
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{100, 100000} {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			seed := newTestPool(b, Config{Dir: dir})
			seedTenants(b, seed, n)
			seed.sqlite.Close()
			debug.FreeOSMemory()
			rss0 := rssKiB(b)
			start := time.Now()
			d, err := OpenDirectory(context.Background(), filepath.Join(dir, "routing.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			p, err := NewPool(d, Config{Dir: dir, Migrations: testMigrations(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			if _, err := p.Recover(context.Background()); err != nil {
				b.Fatal(err)
			}
			startMs := float64(time.Since(start).Microseconds()) / 1000
			rng := rand.New(rand.NewPCG(3, 4))
			ctx := context.Background()
			for b.Loop() {
				if _, err := d.Lookup(ctx, fmt.Sprintf("seed%07d", rng.IntN(n))); err != nil {
					b.Fatal(err)
				}
			}
			debug.FreeOSMemory()
			b.ReportMetric(startMs, "start-ms")
			b.ReportMetric(float64(rssKiB(b)-rss0), "rss-growth-KiB")
		})
	}
}

// BenchmarkFootprint: memory and descriptors per open handle, with 1,000
// tenants held open at capacity 1,000.
func BenchmarkFootprint(b *testing.B) {
	const n = 1000
	p := newTestPool(b, Config{})
	ids := seedTenants(b, p, n)
	for b.Loop() {
		pool := reopen(b, p, Config{MaxOpen: n})
		rss0, fd0 := rssKiB(b), openFDs(b)
		for _, id := range ids {
			s, release, err := pool.Acquire(context.Background(), id)
			if err != nil {
				b.Fatal(err)
			}
			var v string
			if err := s.GetContext(context.Background(), &v, pointRead); err != nil {
				b.Fatal(err)
			}
			release()
		}
		b.ReportMetric(float64(rssKiB(b)-rss0)/n, "KiB/handle")
		b.ReportMetric(float64(openFDs(b)-fd0)/n, "fds/handle")
		pool.Close()
	}
}

// BenchmarkMigrateAll: 10,000 tenants with one pending migration, one job
// (the baseline) against four.
func BenchmarkMigrateAll(b *testing.B) {
	ms := testMigrations(b)
	for _, jobs := range []int{1, 4} {
		b.Run(fmt.Sprintf("jobs=%d", jobs), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				old := newTestPool(b, Config{Migrations: ms[:1]})
				seedTenants(b, old, 10000)
				p := reopen(b, old, Config{Migrations: ms})
				b.StartTimer()
				res, err := p.MigrateAll(context.Background(), jobs, nil)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					if r.Err != nil || r.To != 2 {
						b.Fatalf("%+v", r)
					}
				}
			}
		})
	}
}
