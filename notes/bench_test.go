package notes_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/notes"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// BenchmarkListPage measures a page of 50 of 20,000 notes: the first, one
// 18,000 notes deep through a cursor, and, as the baseline in the same run,
// that deep page read with OFFSET, which walks every note before it.
func BenchmarkListPage(b *testing.B) {
	ctx := context.Background()
	s := newStore(b, nil, "alice")
	const n, depth, limit = 20000, 18000, 50
	_, err := s.ExecContext(ctx, `WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < ?)
		INSERT INTO notes (title, body, created_at, updated_at)
		SELECT 'note ' || n, 'body', ts, ts
		FROM (SELECT n, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', '2020-01-01', '+' || n || ' seconds') AS ts FROM i)`, n)
	if err != nil {
		b.Fatal(err)
	}
	nb := notes.Notebook{}
	after := ""
	for range depth / 1000 {
		page, err := nb.List(ctx, s, 1000, after)
		if err != nil {
			b.Fatal(err)
		}
		after = page.Next
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if _, err := nb.List(ctx, s, limit, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cursor-deep", func(b *testing.B) {
		for b.Loop() {
			if p, err := nb.List(ctx, s, limit, after); err != nil || len(p.Notes) != limit {
				b.Fatal(len(p.Notes), err)
			}
		}
	})
	b.Run("offset-deep-baseline", func(b *testing.B) {
		for b.Loop() {
			var rows []struct {
				ID        int64  `db:"id"`
				Title     string `db:"title"`
				Body      string `db:"body"`
				CreatedAt string `db:"created_at"`
				UpdatedAt string `db:"updated_at"`
			}
			err := s.SelectContext(ctx, &rows, "SELECT id, title, body, created_at, updated_at FROM notes"+
				" ORDER BY id DESC LIMIT ? OFFSET ?", limit, depth)
			if err != nil || len(rows) != limit {
				b.Fatal(len(rows), err)
			}
		}
	})
}

// BenchmarkCreate measures one note created (validation, INSERT …
// RETURNING through a prepared statement, the row read back, the note
// marked pending and, every indexBatch notes, the pending ones indexed in
// one transaction) against the same on a user whose triggers were dropped
// and whose mark of indexed ids is set past any id (the baseline, in the
// same run: nothing is ever pending or indexed): the difference is what
// keeping the full-text index costs a write.
// Each also reports the CPU time one create takes (see cpuTime), and the
// WAL frames (pages written) one create adds, counted before the timed
// loop over 128 creates (two batches) into a notebook that already holds
// 1,000 notes, where the indexes have grown past one page and split as
// they do in use.
func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	pool := tenanttest.New(b, tenant.Config{Migrations: tenanttest.Migrations(b, "../schema.sql")})
	d := notes.Draft{Title: "a note of some length", Body: strings.Repeat("words that the index must take apart ", 8)}
	nb := notes.Notebook{}
	runs := 0 // -count runs each sub-benchmark again on the same pool: a user each time
	b.Run("baseline=no-fts-triggers", func(b *testing.B) {
		runs++
		s := newStore(b, pool, fmt.Sprintf("nofts%d", runs))
		for _, trg := range []string{"notes_ai", "notes_ad", "notes_au"} {
			if _, err := s.ExecContext(ctx, "DROP TRIGGER "+trg); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.ExecContext(ctx, "UPDATE notes_indexed SET upto = 9223372036854775807"); err != nil {
			b.Fatal(err)
		}
		frames := walFramesPer(b, s, func() error { _, err := nb.Create(ctx, s, d); return err })
		cpu := cpuTime(b)
		for b.Loop() {
			if _, err := nb.Create(ctx, s, d); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(frames, "wal-frames/op")
	})
	b.Run("with-fts", func(b *testing.B) {
		runs++
		s := newStore(b, pool, fmt.Sprintf("fts%d", runs))
		frames := walFramesPer(b, s, func() error { _, err := nb.Create(ctx, s, d); return err })
		cpu := cpuTime(b)
		for b.Loop() {
			if _, err := nb.Create(ctx, s, d); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(frames, "wal-frames/op")
	})
}

// cpuTime is the CPU time the process has used, in user and system mode,
// on all its threads: what a write costs the machine, which a loaded
// machine's wall clock overstates.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// walFramesPer is the WAL frames one call of write adds to s's file: 1,000
// calls, then 128 from an empty WAL (fewer frames than SQLite's
// autocheckpoint) counted.
func walFramesPer(b *testing.B, s *tenant.Store, write func() error) float64 {
	b.Helper()
	walFrames := func(mode string) int {
		var busy, frames, done int
		rows, err := s.QueryContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")")
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(&busy, &frames, &done); err != nil {
				b.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		return frames
	}
	for range 1000 {
		if err := write(); err != nil {
			b.Fatal(err)
		}
	}
	walFrames("TRUNCATE")
	const counted = 128
	for range counted {
		if err := write(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(walFrames("PASSIVE")) / counted
}

// BenchmarkGet measures one note read by id through notes.Get: with the
// handle's memo off (the baseline: every read is SQLite's) and a context
// that cannot end, with one that can, as a request's can (database/sql and
// the driver each watch a context that can end from a goroutine of their
// own for the length of the query), and with the memo on, where every read
// after the first is answered from memory.
func BenchmarkGet(b *testing.B) {
	get := func(b *testing.B, memo int64, ctx context.Context) {
		pool := tenanttest.New(b, tenant.Config{Migrations: tenanttest.Migrations(b, "../schema.sql"), MemoBytes: memo})
		s := newStore(b, pool, "alice")
		nb := notes.Notebook{}
		n, err := nb.Create(context.Background(), s, notes.Draft{Title: "hello", Body: "a note to read again and again"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := nb.Get(ctx, s, n.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("baseline=no-memo-background-context", func(b *testing.B) { get(b, -1, context.Background()) })
	b.Run("no-memo-request-context", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		get(b, -1, ctx)
	})
	b.Run("memo", func(b *testing.B) { get(b, 0, context.Background()) })
}

// BenchmarkSearchAfterWrites measures a search that finds 10 notes of a
// notebook of 1,000 or more with nothing waiting to be indexed (the
// baseline) and right after 63 notes were written, which the search
// indexes first (the writes are not timed): what batching the index moves
// from writes to the next search.
func BenchmarkSearchAfterWrites(b *testing.B) {
	ctx := context.Background()
	pool := tenanttest.New(b, tenant.Config{Migrations: tenanttest.Migrations(b, "../schema.sql")})
	d := notes.Draft{Title: "a note of some length", Body: strings.Repeat("words that the index must take apart ", 8)}
	nb := notes.Notebook{}
	runs := 0
	for _, c := range []struct {
		name   string
		writes int
	}{{"baseline=nothing-pending", 0}, {"after-63-writes", 63}} {
		b.Run(c.name, func(b *testing.B) {
			runs++
			s := newStore(b, pool, fmt.Sprintf("search%d", runs))
			for i := range 1000 {
				n := d
				if i%100 == 0 {
					n.Title = "a needle in the notebook"
				}
				if _, err := nb.Create(ctx, s, n); err != nil {
					b.Fatal(err)
				}
			}
			search := func() { // 10 notes match, however many are written
				if p, err := nb.Search(ctx, s, "needle", 20, ""); err != nil || len(p.Notes) != 10 {
					b.Fatal(len(p.Notes), err)
				}
			}
			search()
			for b.Loop() {
				b.StopTimer()
				for range c.writes {
					if _, err := nb.Create(ctx, s, d); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				search()
			}
		})
	}
}
