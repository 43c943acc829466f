package tenant

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Under churn the open handles stay within the capacity, one per caller
// in flight, and one for the background closer. Two things keep them so:
// when the closer is busy, whoever retires a handle closes it (before,
// retired handles queued for the closer, up to 256 of them with their
// descriptors and page cache, whenever closes, which checkpoint the WAL,
// were slower than evictions); and a miss makes room as it enters the
// pool, so no acquire or release retires more than one handle.
func TestRetiredHandlesNeverPileUpUnderChurn(t *testing.T) {
	const capacity, workers = 4, 6
	p := newTestPool(t, Config{MaxOpen: capacity})
	var ids []string
	for i := range 10 * capacity {
		ids = append(ids, mustProvision(t, p, fmt.Sprint("user", i)).ID)
	}
	stop, peak := make(chan struct{}), make(chan int, 1)
	go func() {
		most := 0
		for {
			p.mu.Lock()
			n := p.lru.Len() + len(p.closing) // open handles: in the pool, or retired and not yet shut
			p.mu.Unlock()
			most = max(most, n)
			select {
			case <-stop:
				peak <- most
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 40 {
				s, release, err := p.Acquire(ctx, ids[rng.IntN(len(ids))])
				if err != nil {
					t.Error(err)
					return
				}
				_, err = s.ExecContext(ctx, "INSERT INTO items (v) VALUES ('x')") // a WAL to checkpoint at close
				release()
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	// Each worker holds one handle or is closing one; the closer may be
	// closing one more.
	got, bound := <-peak, capacity+workers+1
	t.Logf("at most %d handles open at once; bound %d", got, bound)
	if got > bound {
		t.Fatalf("%d handles open at once (pool %+v); want at most %d", got, p.Stats(), bound)
	}
}
