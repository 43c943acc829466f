package auth

import (
	"context"
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

// allowed asks th whether a login may go ahead, as Accounts does (Begin),
// and takes the attempt back (Undo), so nothing is counted. (Into a full
// table Begin would first push out the oldest key; callers here either
// never fill one or check only once every window has closed.)
func allowed(th *Throttle, username, addr string, device bool) (time.Duration, bool) {
	wait, ok, _ := th.Begin(context.Background(), username, addr, device)
	if ok {
		th.Undo(context.Background(), username, addr)
	}
	return wait, ok
}

// fail makes one login attempt that turns out a wrong password, as
// Accounts does (Begin, never undone), failing the test if the throttle
// refuses it outright.
func fail(t *testing.T, th *Throttle, username, addr string) {
	t.Helper()
	if wait, ok, _ := th.Begin(context.Background(), username, addr, false); !ok {
		t.Fatalf("attempt for %q from %q refused (retry after %v) where a failure was meant", username, addr, wait)
	}
}

func TestThrottleBlocksPairAfterLimit(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{Now: clock.Now})
	for i := range 10 {
		if _, ok := allowed(th, "alice", "10.0.0.1", false); !ok {
			t.Fatalf("attempt %d refused before the limit", i+1)
		}
		fail(t, th, "alice", "10.0.0.1")
		clock.Advance(time.Minute)
	}
	// The window opened at the first failure, 10 minutes ago.
	tests := []struct {
		name    string
		user    string
		addr    string
		advance time.Duration
		want    time.Duration // 0 means allowed
	}{
		{"blocked from that address", "alice", "10.0.0.1", 0, 5 * time.Minute},
		{"blocked in another letter case", "ALICE", "10.0.0.1", 0, 5 * time.Minute},
		{"owner from another address unaffected", "alice", "192.0.2.1", 0, 0},
		{"other user from that address unaffected", "bob", "10.0.0.1", 0, 0},
		{"still blocked later", "alice", "10.0.0.1", 4*time.Minute + 59*time.Second, time.Second},
		{"free once the window closes", "alice", "10.0.0.1", time.Second, 0},
	}
	for _, tt := range tests {
		clock.Advance(tt.advance)
		got, ok := allowed(th, tt.user, tt.addr, false)
		if ok != (tt.want == 0) || got != tt.want {
			t.Fatalf("%s: allowed = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.want == 0)
		}
	}
}

// Guesses at one account spread over many addresses close it to everyone
// but clients holding a device cookie for it.
func TestThrottleUsernameLimitAdmitsOnlyDevices(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{Now: clock.Now})
	for i := range 49 {
		fail(t, th, "alice", fmt.Sprintf("10.0.%d.%d", i/200, i%200))
	}
	if _, ok := allowed(th, "alice", "192.0.2.1", false); !ok {
		t.Fatal("username blocked at 49 failures; the limit is 50")
	}
	fail(t, th, "Alice", "10.9.9.9")
	clock.Advance(time.Minute)
	if got, ok := allowed(th, "alice", "192.0.2.1", false); ok || got != 14*time.Minute {
		t.Fatalf("without a device cookie: allowed = %v, %v; want 14m, false", got, ok)
	}
	if _, ok := allowed(th, "ALICE", "192.0.2.1", true); !ok {
		t.Fatal("a client with a device cookie was refused")
	}
	if _, ok := allowed(th, "bob", "192.0.2.1", false); !ok {
		t.Fatal("another username was refused")
	}
	// A device cookie does not lift the pair or the address limit.
	for i := range 10 {
		if _, ok, _ := th.Begin(context.Background(), "alice", "192.0.2.1", true); !ok { // a wrong password from that browser
			t.Fatalf("device attempt %d refused before the pair limit", i+1)
		}
	}
	if _, ok := allowed(th, "alice", "192.0.2.1", true); ok {
		t.Fatal("a device cookie lifted the pair limit")
	}
}

func TestThrottleBlocksAddressAfterLimit(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{Now: clock.Now})
	for i := range 100 {
		fail(t, th, fmt.Sprintf("user%d", i), "203.0.113.7")
	}
	clock.Advance(time.Minute)
	if got, ok := allowed(th, "newcomer", "203.0.113.7", true); ok || got != 14*time.Minute {
		t.Fatalf("allowed from flooding address = %v, %v; want 14m, false", got, ok)
	}
	if _, ok := allowed(th, "newcomer", "203.0.113.8", false); !ok {
		t.Fatal("a login from another address refused")
	}
}

// One IPv6 client holds a whole /64, so addresses count by their /64.
func TestThrottleCountsAnIPv6AddressByItsSlash64(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Now: newFakeClock().Now})
	for i := range 10 {
		fail(t, th, "alice", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	if _, ok := allowed(th, "alice", "2001:db8:1:2:ffff:ffff:ffff:ffff", false); ok {
		t.Fatal("a fresh address in the same /64 escaped the pair limit")
	}
	for _, other := range []string{"2001:db8:1:3::1", "192.0.2.1", "::ffff:192.0.2.2"} {
		if _, ok := allowed(th, "alice", other, false); !ok {
			t.Fatalf("%s, outside that /64, was refused", other)
		}
	}
}

func TestThrottleSuccessResetsItsPairOnly(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{PairLimit: 3, AddrLimit: 5, UserLimit: 4, Now: clock.Now})
	for range 3 {
		fail(t, th, "Alice", "198.51.100.1")
	}
	if _, ok := allowed(th, "alice", "198.51.100.1", false); ok {
		t.Fatal("pair not blocked after its limit")
	}
	fail(t, th, "alice", "198.51.100.9") // the username's fourth
	th.Success(context.Background(), "ALICE", "198.51.100.1")
	if _, ok := allowed(th, "alice", "198.51.100.1", true); !ok {
		t.Fatal("pair still blocked after a success")
	}
	if _, ok := allowed(th, "alice", "198.51.100.2", false); ok {
		t.Fatal("a success cleared the username's count from all addresses")
	}
	fail(t, th, "carol", "198.51.100.1")
	fail(t, th, "dave", "198.51.100.1")
	if _, ok := allowed(th, "erin", "198.51.100.1", false); ok {
		t.Fatal("a success cleared the address's count")
	}
}

func TestThrottleRetryAfterIsPositiveUntilAllowed(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{PairLimit: 2, Window: time.Minute, Now: clock.Now})
	fail(t, th, "carol", "a")
	fail(t, th, "carol", "a")
	for elapsed := time.Duration(0); elapsed < time.Minute; elapsed += 7 * time.Second {
		got, ok := allowed(th, "carol", "a", false)
		if ok || got != time.Minute-elapsed {
			t.Fatalf("after %v: allowed = %v, %v; want %v, false", elapsed, got, ok, time.Minute-elapsed)
		}
		clock.Advance(7 * time.Second)
	}
	if got, ok := allowed(th, "carol", "a", false); !ok {
		t.Fatalf("after the window: allowed = %v, false; want allowed", got)
	}
}

// Pair keys are unambiguous: an address and username cannot be split
// differently to share another pair's count.
func TestThrottlePairKeysDoNotCollide(t *testing.T) {
	if pairKey("b", "1a") == pairKey("ab", "1") {
		t.Fatal("two pairs share a key")
	}
	long := strings.Repeat("x", 1<<16)
	if k := pairKey(long, long); len(k) > 2*maxThrottleKeyLen+8 {
		t.Fatalf("pair key of long inputs is %d bytes", len(k))
	}
}

// TestThrottleMemoryIsBoundedUnderSpray sprays far more random usernames,
// from far more addresses, than the table may hold.
func TestThrottleMemoryIsBoundedUnderSpray(t *testing.T) {
	clock := newFakeClock()
	th := NewThrottle(ThrottleConfig{MaxKeys: 1000, Now: clock.Now})
	tables := func() (int, int, int) { return th.pairs.len(), th.users.len(), th.addrs.len() }
	for i := range 50_000 {
		fail(t, th, fmt.Sprintf("spray-%d", i), fmt.Sprintf("addr-%d", i%7919))
		if i%1000 == 0 {
			clock.Advance(time.Second)
		}
	}
	if p, u, a := tables(); p > 1000 || u > 1000 || a > 1000 || len(th.users.byKey) != u || len(th.pairs.byKey) != p {
		t.Fatalf("tracking %d pairs, %d usernames (%d in map) and %d addresses, want at most 1000 each", p, u, len(th.users.byKey), a)
	}
	// A long hostile name is kept as a fixed-size digest.
	fail(t, th, strings.Repeat("x", 1<<20), "addr")
	fail(t, th, "user", strings.Repeat("y", 1<<20))
	for key := range th.users.byKey {
		if len(key) > maxThrottleKeyLen {
			t.Fatalf("kept a %d-byte key", len(key))
		}
	}
	for key := range th.pairs.byKey {
		if len(key) > 2*maxThrottleKeyLen+8 {
			t.Fatalf("kept a %d-byte pair key", len(key))
		}
	}
	// Once every window has closed, everything is pruned.
	clock.Advance(16 * time.Minute)
	allowed(th, "anyone", "anywhere", false)
	if p, u, a := tables(); p != 0 || u != 0 || a != 0 {
		t.Fatalf("after the window: tracking %d pairs, %d usernames and %d addresses, want 0", p, u, a)
	}
}

func TestThrottleDefaults(t *testing.T) {
	c := ThrottleConfig{}.withDefaults()
	if c.PairLimit != 10 || c.UserLimit != 50 || c.AddrLimit != 100 || c.Window != 15*time.Minute || c.MaxKeys != 100_000 || c.Now == nil {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestThrottleConcurrentUse(t *testing.T) {
	th := NewThrottle(ThrottleConfig{PairLimit: 1000, UserLimit: 10_000, AddrLimit: 100_000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				user := fmt.Sprintf("u%d", i%5)
				th.Begin(context.Background(), user, fmt.Sprint(g), false) // a wrong password
				allowed(th, user, fmt.Sprint(g), false)
				if i%50 == 0 {
					th.Success(context.Background(), user, fmt.Sprint(g))
				}
			}
		})
	}
	wg.Wait()
	if _, ok := allowed(th, "u0", "fresh", false); !ok {
		t.Fatal("u0 blocked below its limit")
	}
}
