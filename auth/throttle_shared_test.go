package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memCounter is a Counter in memory with failureTable's rules, standing in
// for the etcd one (package cluster tests that one against a Throttle). It
// can be made to fail, as an unreachable etcd does.
type memCounter struct {
	mu     sync.Mutex
	counts map[string]*failureCount
	down   bool
}

func newMemCounter() *memCounter { return &memCounter{counts: make(map[string]*failureCount)} }

var errDown = errors.New("counter unreachable")

func (m *memCounter) Take(_ context.Context, now time.Time, counts []Count) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return 0, errDown
	}
	var wait time.Duration
	for _, c := range counts {
		if n, ok := m.counts[c.Key]; ok && c.Limit > 0 && n.count >= c.Limit && now.Before(n.opened.Add(c.Window)) {
			wait = max(wait, n.opened.Add(c.Window).Sub(now))
		}
	}
	if wait > 0 {
		return wait, nil
	}
	for _, c := range counts {
		n, ok := m.counts[c.Key]
		if !ok || !now.Before(n.opened.Add(c.Window)) {
			n = &failureCount{key: c.Key, opened: now}
			m.counts[c.Key] = n
		}
		n.count++
	}
	return 0, nil
}

func (m *memCounter) Give(_ context.Context, sub, forget []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	for _, k := range sub {
		if n, ok := m.counts[k]; ok {
			if n.count--; n.count <= 0 {
				delete(m.counts, k)
			}
		}
	}
	for _, k := range forget {
		delete(m.counts, k)
	}
	return nil
}

// Two throttles over one Counter (two nodes) refuse a guesser at the limit
// one throttle alone would, and let a device cookie's holder past the
// username's limit on either.
func TestThrottlesSharingACounterCountAsOne(t *testing.T) {
	clock := newFakeClock()
	counter := newMemCounter()
	cfg := ThrottleConfig{PairLimit: 4, UserLimit: 6, Now: clock.Now, Counter: counter}
	nodes := []*Throttle{NewThrottle(cfg), NewThrottle(cfg)}
	for i := range 4 {
		fail(t, nodes[i%2], "alice", "192.0.2.1")
	}
	for i, th := range nodes {
		if _, ok := allowed(th, "ALICE", "192.0.2.1", false); ok {
			t.Fatalf("node %d let a fifth guess through a pair limit of four", i+1)
		}
	}
	fail(t, nodes[0], "alice", "192.0.2.2")
	fail(t, nodes[1], "alice", "192.0.2.3")
	if _, ok := allowed(nodes[1], "alice", "192.0.2.4", false); ok {
		t.Fatal("a seventh guess at the username passed its limit of six")
	}
	if _, ok := allowed(nodes[0], "alice", "192.0.2.4", true); !ok {
		t.Fatal("a device cookie's holder was refused")
	}
	if err := nodes[1].Success(context.Background(), "alice", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := allowed(nodes[0], "alice", "192.0.2.1", true); !ok {
		t.Fatal("a success on one node left the pair blocked on the other")
	}
	clock.Advance(15 * time.Minute)
	if _, ok := allowed(nodes[0], "alice", "192.0.2.4", false); !ok {
		t.Fatal("still refused after the window")
	}
}

// A login or signup whose count cannot be reached is refused before any
// hashing with ErrUnavailable, and leaves nothing counted.
func TestSignInFailsClosedWithoutTheCounter(t *testing.T) {
	counter := newMemCounter()
	r := newAccountsRigWith(t, func(c *AccountsConfig) {
		c.Throttle = NewThrottle(ThrottleConfig{Counter: counter})
		c.SignupLimit, c.Counter = 3, counter
	})
	r.mustSignup(t, "alice", "correct horse")
	if _, err := r.Login(context.Background(), "alice", "correct horse", "192.0.2.1", false); err != nil {
		t.Fatalf("login: %v", err)
	}
	counter.mu.Lock()
	counter.down = true
	left := len(counter.counts)
	counter.mu.Unlock()
	if left != 1 { // the signup's; the login's were given back
		t.Fatalf("%d counts kept after a signup and a good login; want 1", left)
	}
	before := r.derived.Load()
	if _, err := r.Login(context.Background(), "alice", "correct horse", "192.0.2.1", false); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("login without the counter = %v; want ErrUnavailable", err)
	}
	if _, err := r.Signup(context.Background(), "bob", "correct horse", "192.0.2.1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("signup without the counter = %v; want ErrUnavailable", err)
	}
	if r.derived.Load() != before || tenantFiles(t, r) != 1 {
		t.Fatal("a refused sign-in hashed a password or made a file")
	}
}

// Guesses sent at once through a shared Counter are checked only up to
// the limit, as with counts in memory.
func TestSharedThrottleConcurrentGuessesStopAtTheLimit(t *testing.T) {
	counter := newMemCounter()
	r := newAccountsRigWith(t, func(c *AccountsConfig) { c.Throttle = NewThrottle(ThrottleConfig{Counter: counter}) })
	r.mustSignup(t, "alice", "correct horse")
	before := r.derived.Load()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong, throttled := 0, 0
	for range 30 {
		wg.Go(func() {
			_, err := r.Login(context.Background(), "alice", "guess", "10.0.0.1", false)
			var te *ThrottledError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrInvalidCredentials):
				wrong++
			case errors.As(err, &te):
				throttled++
			default:
				t.Errorf("guess: %v", err)
			}
		})
	}
	wg.Wait()
	if wrong != 10 || throttled != 20 || r.derived.Load()-before != 10 {
		t.Fatalf("%d wrong, %d throttled, %d hashes; want 10, 20, 10", wrong, throttled, r.derived.Load()-before)
	}
}
