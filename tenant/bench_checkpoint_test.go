package tenant

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkCloseAfterWrites: closing a tenant handle, as an eviction does,
// when nothing was written (the baseline), after 300 single-row writes, and
// after the same writes once the pool's background checkpoint has run (see
// checkpointIdle; its own time is not counted). Each op opens
// a fresh tenant, so the figures are per close.
func BenchmarkCloseAfterWrites(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		writes     int
		checkpoint bool
	}{
		{"baseline=no-writes", 0, false},
		{"300-writes", 300, false},
		{"300-writes-checkpointed", 300, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := newTestPool(b, Config{MaxOpen: 4, IdleCheckpoint: -1})
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				tn := mustProvision(b, p, fmt.Sprintf("user%d", i))
				s, release, err := p.Acquire(ctx, tn.ID)
				if err != nil {
					b.Fatal(err)
				}
				for n := range c.writes {
					if _, err := s.ExecContext(ctx, "INSERT INTO items (v, n) VALUES ('an item written in a burst', ?)", n); err != nil {
						b.Fatal(err)
					}
				}
				release()
				p.mu.Lock()
				e := p.entries[tn.ID]
				if c.checkpoint {
					e.refs++ // as checkpointIdle holds it
				}
				p.mu.Unlock()
				if c.checkpoint {
					if err := p.checkpointWAL(e); err != nil {
						b.Fatal(err)
					}
				}
				p.mu.Lock()
				if c.checkpoint {
					e.refs--
				}
				p.retireLocked(e)
				p.mu.Unlock()
				b.StartTimer()
				if err := p.shutErr(e); err != nil { // what an eviction runs
					b.Fatal(err)
				}
				b.StopTimer()
				b.StartTimer()
			}
		})
	}
}
