package tenant

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func provisionN(t testing.TB, p *Pool, n int) []Tenant {
	t.Helper()
	ts := make([]Tenant, n)
	for i := range ts {
		ts[i] = mustProvision(t, p, fmt.Sprintf("user%03d", i))
	}
	return ts
}

// tenantFDs counts this process's open descriptors on files under dir/tenants.
func tenantFDs(t testing.TB, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	root := filepath.Join(dir, "tenants")
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, root) {
			n++
		}
	}
	return n
}

func TestPoolStaysWithinCapacityWhenReleased(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 4})
	ts := provisionN(t, p, 20)
	for round := range 3 {
		for _, tn := range ts {
			s, release, err := p.Acquire(context.Background(), tn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.ExecContext(context.Background(), "INSERT INTO items (v) VALUES (?)", round); err != nil {
				t.Fatal(err)
			}
			release()
			if open := p.Stats().Open; open > 4 {
				t.Fatalf("%d open after release; capacity 4", open)
			}
		}
	}
	st := p.Stats()
	if st.Misses != 60 || st.Evictions != 56 {
		t.Errorf("stats %+v; want 60 misses (every access cold), 56 evictions", st)
	}
	p.Close()
	if n := tenantFDs(t, p.dir); n != 0 {
		t.Errorf("%d tenant descriptors open after Close", n)
	}
}

func TestPoolUnderConcurrencyNeverClosesAHeldHandle(t *testing.T) {
	const (
		capacity = 4
		workers  = 16
		tenants  = 40
		rounds   = 25
	)
	p := newTestPool(t, Config{MaxOpen: capacity})
	ts := provisionN(t, p, tenants)
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		maxOpen  atomic.Int64
		firstErr sync.Once
	)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				tn := ts[rng.IntN(tenants)]
				s, release, err := p.Acquire(context.Background(), tn.ID)
				if err != nil {
					failures.Add(1)
					firstErr.Do(func() { t.Errorf("acquire: %v", err) })
					continue
				}
				for q := range 4 { // several queries per acquire
					var n int
					if _, err := s.ExecContext(context.Background(), "INSERT INTO items (v) VALUES (?)", q); err != nil {
						failures.Add(1)
						firstErr.Do(func() { t.Errorf("write: %v", err) })
					}
					if err := s.GetContext(context.Background(), &n, "SELECT count(*) FROM items"); err != nil {
						failures.Add(1)
						firstErr.Do(func() { t.Errorf("read: %v", err) })
					}
				}
				if open := int64(p.Stats().Open); open > maxOpen.Load() {
					maxOpen.Store(open)
				}
				release()
			}
		})
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d failed operations", failures.Load())
	}
	if m := maxOpen.Load(); m > capacity+workers {
		t.Errorf("saw %d open; at most capacity+holders = %d", m, capacity+workers)
	}
	if open := p.Stats().Open; open > capacity {
		t.Errorf("%d open once all released; capacity %d", open, capacity)
	}
	p.drainClosing()
	if fds := tenantFDs(t, p.dir); fds > handleFDs(capacity) { // connections lent to busy handles included
		t.Errorf("%d tenant descriptors open; at most %d", fds, handleFDs(capacity))
	}
}

func TestConcurrentAcquiresShareOneOpen(t *testing.T) {
	var opens atomic.Int64
	p := newTestPool(t, Config{OnOpen: func(time.Duration) { opens.Add(1) }})
	tn := mustProvision(t, p, "popular")
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			<-start
			s, release, err := p.Acquire(context.Background(), tn.ID)
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			var n int
			if err := s.GetContext(context.Background(), &n, "SELECT count(*) FROM items"); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if opens.Load() != 1 {
		t.Fatalf("%d opens; want 1", opens.Load())
	}
	if st := p.Stats(); st.Misses != 1 || st.Hits != 49 {
		t.Fatalf("stats %+v; want 1 miss, 49 hits", st)
	}
}

func TestIdleHandlesClose(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	p := newTestPool(t, Config{IdleTimeout: time.Hour, Now: clock})
	ts := provisionN(t, p, 3)
	for _, tn := range ts {
		_, release, err := p.Acquire(context.Background(), tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	held, release, err := p.Acquire(context.Background(), ts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	advance(2 * time.Hour)
	p.closeAsync(p.sweepIdle())
	if open := p.Stats().Open; open != 1 {
		t.Fatalf("%d open after idle sweep; want only the held one", open)
	}
	if err := held.GetContext(context.Background(), new(int), "SELECT 1"); err != nil {
		t.Fatalf("held handle broken by sweep: %v", err)
	}
	release()
}

func TestCloseWhileHeld(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "holder")
	s, release, err := p.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.ExecContext(context.Background(), "INSERT INTO items (v) VALUES ('late')"); err != nil {
		t.Fatalf("held store after Close: %v", err)
	}
	release()
	release() // a second call is harmless
	if _, _, err := p.Acquire(context.Background(), tn.ID); !errors.Is(err, ErrClosed) {
		t.Fatalf("acquire after close: %v", err)
	}
	if n := tenantFDs(t, p.dir); n != 0 {
		t.Errorf("%d tenant descriptors open after the last release", n)
	}
}

func TestAcquireHonoursCancelledContext(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "patient")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := p.Acquire(ctx, tn.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
	// The entry is not leaked: it can still be used and evicted.
	_, release, err := p.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	release()
}
