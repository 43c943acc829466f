package tenant

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// scanRead reads every row of items, more pages than a handle's cache holds
// once the burst below has run.
const scanRead = "SELECT count(*) FROM items WHERE v LIKE 'y%'"

// BenchmarkHotReadAfterWriteBurst: reads through Acquire/release on an
// open tenant right after 5,000 INSERT … RETURNING writes on the same handle
// (the path notes' Create and Update take). A point read is compared with
// the same read before the burst (the baseline), and a full scan with the
// same scan once the WAL has been checkpointed away (its baseline), all in
// one run. It reports the -wal's size after the burst: before GetContext
// stepped writes to their end, no such write ever checkpointed.
func BenchmarkHotReadAfterWriteBurst(b *testing.B) {
	p := newTestPool(b, Config{})
	ids := seedTenants(b, p, 1)
	p = reopen(b, p, Config{})
	ctx := context.Background()
	read := func(query string) func(b *testing.B) {
		return func(b *testing.B) {
			var v string
			for b.Loop() {
				s, release, err := p.Acquire(ctx, ids[0])
				if err != nil {
					b.Fatal(err)
				}
				err = s.GetContext(ctx, &v, query)
				release()
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("point/baseline=before-burst", read(pointRead))
	wal, perWrite := writeBurst(b, p, ids[0])
	b.Run("point/after-burst", func(b *testing.B) {
		read(pointRead)(b)
		b.ReportMetric(wal, "wal-MiB")
		b.ReportMetric(float64(perWrite.Microseconds()), "µs/write")
	})
	b.Run("scan/after-burst", read(scanRead))
	s, release, err := p.Acquire(ctx, ids[0])
	if err != nil {
		b.Fatal(err)
	}
	_, err = s.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	release()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("scan/baseline=checkpointed", read(scanRead))
}

// writeBurst inserts 5,000 rows of 300 bytes into tenant id through
// Store.GetContext with RETURNING and returns the -wal's size in MiB and
// the mean time of one insert, checkpoints included.
func writeBurst(b *testing.B, p *Pool, id string) (float64, time.Duration) {
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	v := strings.Repeat("x", 300)
	start := time.Now()
	for range 5000 {
		var n int64
		if err := s.GetContext(ctx, &n, "INSERT INTO items (v) VALUES (?) RETURNING id", v); err != nil {
			b.Fatal(err)
		}
	}
	perWrite := time.Since(start) / 5000
	fi, err := os.Stat(p.tenantPath(id) + "-wal")
	if err != nil {
		b.Fatal(err)
	}
	return float64(fi.Size()) / (1 << 20), perWrite
}
