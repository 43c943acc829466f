package auth

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for tests; safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestThrottleBlocksUsernameAfterLimit(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{Now: clock.Now})
	for i := range 10 {
		if _, ok := th.Allow("alice", fmt.Sprintf("10.0.0.%d", i)); !ok {
			t.Fatalf("attempt %d refused before the limit", i+1)
		}
		th.Failure("alice", fmt.Sprintf("10.0.0.%d", i))
		clock.Advance(time.Minute)
	}
	// The window opened at the first failure, 10 minutes ago.
	tests := []struct {
		name    string
		user    string
		advance time.Duration
		want    time.Duration // 0 means allowed
	}{
		{"blocked from a fresh address", "alice", 0, 5 * time.Minute},
		{"blocked in another letter case", "ALICE", 0, 5 * time.Minute},
		{"other user unaffected", "bob", 0, 0},
		{"still blocked later", "alice", 4*time.Minute + 59*time.Second, time.Second},
		{"free once the window closes", "alice", time.Second, 0},
	}
	for _, tt := range tests {
		clock.Advance(tt.advance)
		got, ok := th.Allow(tt.user, "192.0.2.1")
		if ok != (tt.want == 0) || got != tt.want {
			t.Fatalf("%s: Allow = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.want == 0)
		}
	}
}

func TestThrottleBlocksAddressAfterLimit(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{Now: clock.Now})
	for i := range 100 {
		th.Failure(fmt.Sprintf("user%d", i), "203.0.113.7")
	}
	clock.Advance(time.Minute)
	if got, ok := th.Allow("newcomer", "203.0.113.7"); ok || got != 14*time.Minute {
		t.Fatalf("Allow from flooding address = %v, %v; want 14m, false", got, ok)
	}
	if _, ok := th.Allow("newcomer", "203.0.113.8"); !ok {
		t.Fatal("Allow from another address refused")
	}
}

func TestThrottleSuccessResetsUsernameOnly(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{UserLimit: 3, AddrLimit: 3, Now: clock.Now})
	for range 3 {
		th.Failure("Alice", "198.51.100.1")
	}
	if _, ok := th.Allow("alice", "198.51.100.2"); ok {
		t.Fatal("username not blocked after its limit")
	}
	th.Success("ALICE")
	if _, ok := th.Allow("alice", "198.51.100.2"); !ok {
		t.Fatal("username still blocked after a success")
	}
	if _, ok := th.Allow("alice", "198.51.100.1"); ok {
		t.Fatal("a success cleared the address's count")
	}
}

func TestThrottleRetryAfterIsPositiveUntilAllowed(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{UserLimit: 2, Window: time.Minute, Now: clock.Now})
	th.Failure("carol", "a")
	th.Failure("carol", "a")
	for elapsed := time.Duration(0); elapsed < time.Minute; elapsed += 7 * time.Second {
		got, ok := th.Allow("carol", "b")
		if ok || got != time.Minute-elapsed {
			t.Fatalf("after %v: Allow = %v, %v; want %v, false", elapsed, got, ok, time.Minute-elapsed)
		}
		clock.Advance(7 * time.Second)
	}
	if got, ok := th.Allow("carol", "b"); !ok {
		t.Fatalf("after the window: Allow = %v, false; want allowed", got)
	}
}

// TestThrottleMemoryIsBoundedUnderSpray sprays far more random usernames,
// from far more addresses, than the table may hold.
func TestThrottleMemoryIsBoundedUnderSpray(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{MaxKeys: 1000, Now: clock.Now})
	for i := range 50_000 {
		th.Failure(fmt.Sprintf("spray-%d", i), fmt.Sprintf("addr-%d", i%7919))
		if i%1000 == 0 {
			clock.Advance(time.Second)
		}
	}
	if u, a := th.users.len(), th.addrs.len(); u > 1000 || a > 1000 || len(th.users.byKey) != u {
		t.Fatalf("tracking %d usernames (%d in map) and %d addresses, want at most 1000 each", u, len(th.users.byKey), a)
	}
	// A long hostile name is kept as a fixed-size digest.
	th.Failure(strings.Repeat("x", 1<<20), "addr")
	for key := range th.users.byKey {
		if len(key) > maxThrottleKeyLen {
			t.Fatalf("kept a %d-byte key", len(key))
		}
	}
	// Once every window has closed, everything is pruned.
	clock.Advance(16 * time.Minute)
	th.Allow("anyone", "anywhere")
	if u, a := th.users.len(), th.addrs.len(); u != 0 || a != 0 {
		t.Fatalf("after the window: tracking %d usernames and %d addresses, want 0", u, a)
	}
}

func TestThrottleDefaults(t *testing.T) {
	c := ThrottleConfig{}.withDefaults()
	if c.UserLimit != 10 || c.AddrLimit != 100 || c.Window != 15*time.Minute || c.MaxKeys != 100_000 || c.Now == nil {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestThrottleConcurrentUse(t *testing.T) {
	th := NewThrottle(ThrottleConfig{UserLimit: 1000, AddrLimit: 100_000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				user := fmt.Sprintf("u%d", i%5)
				th.Allow(user, fmt.Sprint(g))
				th.Failure(user, fmt.Sprint(g))
				if i%50 == 0 {
					th.Success(user)
				}
			}
		})
	}
	wg.Wait()
	if _, ok := th.Allow("u0", "fresh"); !ok {
		t.Fatal("u0 blocked below its limit")
	}
}
