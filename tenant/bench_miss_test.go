package tenant

import (
	"context"
	"testing"
)

// BenchmarkMissSteps splits a pool miss into its steps, each sub-benchmark
// doing one step more than the one before on a tenant that is not open
// (round robin over 200 files that have all been opened once, as in a
// running server), and closing what it opened. The difference between two
// neighbours is what that step costs; "pool-miss" is the whole miss through
// Acquire with one slot, so every acquire evicts the one before.
func BenchmarkMissSteps(b *testing.B) {
	p := newTestPool(b, Config{})
	ids := seedTenants(b, p, 200)
	p = reopen(b, p, Config{MaxOpen: 1})
	ctx := context.Background()
	for _, id := range ids { // every file has its -wal and -shm, as in a running server
		_, release, err := p.Acquire(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
	p.drainClosing()
	steps := []struct {
		name string
		run  func(id string) error
	}{
		{"1-routing-lookup", func(id string) error { _, err := p.directory.Get(ctx, id); return err }},
		{"2-open-files", func(id string) error { return openSteps(ctx, p, id, false, false) }},
		{"3-version-check", func(id string) error { return openSteps(ctx, p, id, true, false) }},
		{"4-first-query", func(id string) error { return openSteps(ctx, p, id, true, true) }},
		{"5-pool-miss", func(id string) error { return poolRead(ctx, p, id) }},
	}
	for _, st := range steps {
		b.Run(st.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if err := st.run(ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
			}
			p.drainClosing()
		})
	}
}

// poolRead is one point read of tenant id through the pool.
func poolRead(ctx context.Context, p *Pool, id string) error {
	s, release, err := p.Acquire(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	var v string
	return s.GetContext(ctx, &v, pointRead)
}

// openSteps does what a miss does after the routing lookup, up to the
// version check and the first query, and closes the handle.
func openSteps(ctx context.Context, p *Pool, id string, version, query bool) error {
	if _, err := p.directory.Get(ctx, id); err != nil {
		return err
	}
	db, err := p.openFile(ctx, id)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil { // SQLite opens the files here
		return err
	}
	if version {
		if _, err := userVersion(ctx, db); err != nil {
			return err
		}
	}
	if query {
		var v string
		return db.GetContext(ctx, &v, pointRead)
	}
	return nil
}
