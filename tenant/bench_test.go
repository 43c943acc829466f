package tenant

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// seedTenants makes n active tenants fast: one real provision, then copies
// of its file with rows inserted in one transaction. Benchmarks only.
func seedTenants(tb testing.TB, p *Pool, n int) []string {
	tb.Helper()
	ctx := context.Background()
	tmpl := mustProvision(tb, p, "template")
	s, release, err := p.Acquire(ctx, tmpl.ID)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.ExecContext(ctx, "INSERT INTO items (v) VALUES ('hello')"); err != nil {
		tb.Fatal(err)
	}
	release()
	p.Close() // checkpoint the template so its file stands alone
	raw, err := os.ReadFile(p.tenantPath(tmpl.ID))
	if err != nil {
		tb.Fatal(err)
	}
	ids := make([]string, n)
	tx := p.sqlite.db.MustBegin()
	now := time.Now().UTC()
	for i := range ids {
		ids[i] = newID()
		path := p.tenantPath(ids[i])
		os.MkdirAll(filepath.Dir(path), 0o700)
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			tb.Fatal(err)
		}
		tx.MustExec("INSERT INTO tenants (id, username, state, schema_version, created_at, updated_at) VALUES (?, ?, 'active', ?, ?, ?)",
			ids[i], fmt.Sprintf("seed%07d", i), len(p.cfg.Migrations), now, now)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// reopen returns a fresh pool over p's data directory.
func reopen(tb testing.TB, p *Pool, cfg Config) *Pool {
	cfg.Dir = p.dir
	if cfg.Migrations == nil {
		cfg.Migrations = p.cfg.Migrations
	}
	np, err := NewPool(p.directory, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { np.Close() })
	return np
}

const pointRead = "SELECT v FROM items WHERE id = 1"

// BenchmarkHotRead: a point read through Acquire/release on an open
// tenant, against the same read on one pre-opened handle (the baseline).
func BenchmarkHotRead(b *testing.B) {
	p := newTestPool(b, Config{})
	ids := seedTenants(b, p, 1)
	p = reopen(b, p, Config{})
	ctx := context.Background()

	b.Run("baseline=one-handle", func(b *testing.B) {
		db, err := p.openFile(ctx, ids[0])
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var v string
		for b.Loop() {
			if err := db.GetContext(ctx, &v, pointRead); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pool-acquire", func(b *testing.B) {
		var v string
		for b.Loop() {
			s, release, err := p.Acquire(ctx, ids[0])
			if err != nil {
				b.Fatal(err)
			}
			err = s.GetContext(ctx, &v, pointRead)
			release()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkColdRead: 10,000 tenants, capacity 256, uniform random access
// (about 97% misses), against uniform random access over 256 tenants that
// all stay open (the baseline). Every tenant is opened once before timing.
// It reports p50 and p99 of one acquire + read + release.
func BenchmarkColdRead(b *testing.B) {
	const capacity = 256
	p := newTestPool(b, Config{})
	all := seedTenants(b, p, 10000)
	for _, c := range []struct {
		name string
		ids  []string
	}{{"baseline=256-hot", all[:capacity]}, {"10000-tenants", all}} {
		b.Run(c.name, func(b *testing.B) {
			ids := c.ids
			pool := reopen(b, p, Config{MaxOpen: capacity})
			ctx := context.Background()
			// Open every tenant once first: a file that has been opened
			// before keeps its -wal and -shm, and that steady state, not a
			// first open, is what a miss costs in a running server.
			{
				for _, id := range ids {
					_, release, err := pool.Acquire(ctx, id)
					if err != nil {
						b.Fatal(err)
					}
					release()
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			lat := make([]time.Duration, 0, b.N)
			var v string
			for b.Loop() {
				start := time.Now()
				s, release, err := pool.Acquire(ctx, ids[rng.IntN(len(ids))])
				if err != nil {
					b.Fatal(err)
				}
				err = s.GetContext(ctx, &v, pointRead)
				release()
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
			st := pool.Stats()
			b.ReportMetric(float64(st.Misses)/float64(st.Misses+st.Hits), "miss-ratio")
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkProvision: a whole signup's tenant work without password
// hashing (row, file, migrations, account row, activate), against creating
// a bare SQLite file with the same schema and no routing (the baseline).
func BenchmarkProvision(b *testing.B) {
	ctx := context.Background()
	b.Run("baseline=bare-file", func(b *testing.B) {
		dir := b.TempDir()
		ms := testMigrations(b)
		i := 0
		for b.Loop() {
			i++
			db, err := sqlx.Open("sqlite", fileDSN(filepath.Join(dir, fmt.Sprintf("%d.db", i)), "rwc", false))
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := migrate(ctx, "x", db, ms); err != nil {
				b.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO account (username) VALUES ('x')"); err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
	})
	b.Run("provision", func(b *testing.B) {
		p := newTestPool(b, Config{})
		i := 0
		for b.Loop() {
			i++
			if _, err := p.Provision(ctx, fmt.Sprintf("user%d", i), writeAccount); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAcquireRelease: what the pool costs a request on a hot tenant,
// an acquire and its release.
func BenchmarkAcquireRelease(b *testing.B) {
	p := newTestPool(b, Config{})
	tn := mustProvision(b, p, "ann")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, release, err := p.Acquire(ctx, tn.ID)
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}
