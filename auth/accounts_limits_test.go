package auth

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// A login refused because the hashing queue is full is ErrBusy, and does
// not count as a wrong guess.
func TestLoginRefusedBusyIsNotAFailedGuess(t *testing.T) {
	h := NewHasher(testParams(), 1, WithMaxWait(time.Millisecond))
	r := newAccountsRigWith(t, func(c *AccountsConfig) {
		c.Hasher = h
		c.Throttle = NewThrottle(ThrottleConfig{PairLimit: 1, Now: newFakeClock().Now})
	})
	r.mustSignup(t, "alice", "correct horse")
	g := newGate(4)
	h.derive = g.derive
	held := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "password")
		held <- err
	}()
	<-g.entered
	for _, user := range []string{"alice", "nobody"} {
		if _, err := r.Login(context.Background(), user, "wrong horse", "192.0.2.1", false); !errors.Is(err, ErrBusy) {
			t.Fatalf("login of %s while every slot is held = %v; want ErrBusy", user, err)
		}
	}
	g.release <- struct{}{}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	h.derive = deriveArgon2id
	// A pair limit of one: had the busy refusal counted, this would be throttled.
	if _, err := r.Login(context.Background(), "alice", "correct horse", "192.0.2.1", false); err != nil {
		t.Fatalf("login after the busy refusal = %v; want success", err)
	}
}

// signupsRig is Accounts with a signup limit of 3 per address per hour.
func signupsRig(t *testing.T, clock *fakeClock) *accountsRig {
	return newAccountsRigWith(t, func(c *AccountsConfig) { c.SignupLimit, c.Now = 3, clock.Now })
}

func tenantFiles(t *testing.T, r *accountsRig) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(r.dir, "tenants", "*", "*.db"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

func TestSignupLimitPerAddressPerHour(t *testing.T) {
	clock := newFakeClock()
	r := signupsRig(t, clock)
	ctx := context.Background()
	for i := range 3 {
		if _, err := r.Signup(ctx, fmt.Sprint("user", i), "password1", "203.0.113.5"); err != nil {
			t.Fatal(err)
		}
	}
	// Refusals that make no account do not count.
	if _, err := r.Signup(ctx, "user0", "password1", "198.51.100.1"); !errors.Is(err, ErrUsernameTaken) {
		t.Fatalf("taken name = %v", err)
	}
	clock.Advance(10 * time.Minute)
	before, files := r.derived.Load(), tenantFiles(t, r)
	_, err := r.Signup(ctx, "user9", "password1", "203.0.113.5")
	var te *ThrottledError
	if !errors.As(err, &te) || !te.Signup || te.RetryAfter != 50*time.Minute {
		t.Fatalf("fourth signup from one address = %v; want a signup ThrottledError, 50m", err)
	}
	if r.derived.Load() != before || tenantFiles(t, r) != files {
		t.Fatal("a refused signup hashed a password or made a file")
	}
	if _, err := r.pool.Directory().Lookup(ctx, "user9"); err == nil {
		t.Fatal("a refused signup made a routing row")
	}
	for i, addr := range []string{"198.51.100.1", "198.51.100.1", "198.51.100.1"} {
		if _, err := r.Signup(ctx, fmt.Sprint("other", i), "password1", addr); err != nil {
			t.Fatalf("signup from another address: %v", err)
		}
	}
	clock.Advance(50 * time.Minute)
	if _, err := r.Signup(ctx, "user9", "password1", "203.0.113.5"); err != nil {
		t.Fatalf("signup after the hour: %v", err)
	}
}

// Signups sent at once from one address cannot outrun the limit.
func TestSignupLimitHoldsUnderConcurrentSignups(t *testing.T) {
	r := signupsRig(t, newFakeClock())
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = r.Signup(context.Background(), fmt.Sprint("racer", i), "password1", "203.0.113.5")
		})
	}
	wg.Wait()
	var made, throttled int
	for _, err := range errs {
		var te *ThrottledError
		switch {
		case err == nil:
			made++
		case errors.As(err, &te):
			throttled++
		default:
			t.Fatalf("signup: %v", err)
		}
	}
	if made != 3 || throttled != n-3 || tenantFiles(t, r) != 3 {
		t.Fatalf("%d made, %d throttled, %d files; want 3, %d, 3", made, throttled, tenantFiles(t, r), n-3)
	}
}

func TestSignupWithoutALimitByDefault(t *testing.T) {
	r := newAccountsRig(t, false)
	for i := range 15 {
		if _, err := r.Signup(context.Background(), fmt.Sprint("user", i), "password1", "203.0.113.5"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSignupLimitCountsAnIPv6AddressByItsSlash64(t *testing.T) {
	r := signupsRig(t, newFakeClock())
	for i := range 3 {
		if _, err := r.Signup(context.Background(), fmt.Sprint("user", i), "password1", fmt.Sprintf("2001:db8::%x", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	var te *ThrottledError
	if _, err := r.Signup(context.Background(), "user9", "password1", "2001:db8::ffff"); !errors.As(err, &te) {
		t.Fatalf("fourth signup from one /64 = %v; want a ThrottledError", err)
	}
}
