package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// Begin counts the attempt before it is checked, so a burst cannot pass
// the limit; Undo takes back what was not a failure.
func TestThrottleBeginCountsBeforeTheOutcome(t *testing.T) {
	th := NewThrottle(ThrottleConfig{PairLimit: 3, AddrLimit: 5, Now: newFakeClock().Now})
	for i := range 3 {
		if _, ok, _ := th.Begin(context.Background(), "alice", "1.1.1.1", false); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if _, ok, _ := th.Begin(context.Background(), "ALICE", "1.1.1.1", false); ok {
		t.Fatal("a fourth attempt in flight passed a limit of three")
	}
	th.Undo(context.Background(), "alice", "1.1.1.1") // one of the three was the right password
	if _, ok, _ := th.Begin(context.Background(), "alice", "1.1.1.1", false); !ok {
		t.Fatal("an undone attempt still counts")
	}
	th.Begin(context.Background(), "carol", "1.1.1.1", false) // the address's fourth and fifth
	th.Begin(context.Background(), "dave", "1.1.1.1", false)
	if _, ok, _ := th.Begin(context.Background(), "bob", "1.1.1.1", false); ok {
		t.Fatal("the address limit let a sixth attempt through")
	}
	th.Undo(context.Background(), "nobody", "9.9.9.9") // nothing counted: nothing to take back
	if th.pairs.len() != 3 || th.users.len() != 3 || th.addrs.len() != 1 {
		t.Fatalf("tracking %d pairs, %d users and %d addresses; want 3, 3 and 1",
			th.pairs.len(), th.users.len(), th.addrs.len())
	}
}

// Wrong guesses sent at once are checked only up to the limit; the rest
// are throttled without a hash, as if sent one after another.
func TestLoginConcurrentGuessesCannotOutrunTheThrottle(t *testing.T) {
	r := newAccountsRig(t, false)
	r.mustSignup(t, "alice", "correct horse")
	before := r.derived.Load()
	const guesses = 50
	errs := make([]error, guesses)
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			_, errs[i] = r.Login(context.Background(), "alice", fmt.Sprint("guess ", i), "10.0.0.1", false)
		})
	}
	wg.Wait()
	var wrong, throttled int
	for _, err := range errs {
		var te *ThrottledError
		switch {
		case errors.Is(err, ErrInvalidCredentials):
			wrong++
		case errors.As(err, &te):
			throttled++
		default:
			t.Fatalf("guess: %v", err)
		}
	}
	if wrong != 10 || throttled != guesses-10 || r.derived.Load()-before != 10 {
		t.Fatalf("%d wrong, %d throttled, %d hashes; want 10, %d, 10", wrong, throttled, r.derived.Load()-before, guesses-10)
	}
}

// Guesses at one account sent at once from many addresses are checked only
// up to the username limit; the rest are throttled without a hash.
func TestLoginConcurrentDistributedGuessesStopAtTheUsernameLimit(t *testing.T) {
	r := newAccountsRig(t, false)
	r.mustSignup(t, "alice", "correct horse")
	before := r.derived.Load()
	const guesses = 70
	errs := make([]error, guesses)
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			_, errs[i] = r.Login(context.Background(), "alice", fmt.Sprint("guess ", i), fmt.Sprint("10.0.0.", i), false)
		})
	}
	wg.Wait()
	var wrong, throttled int
	for _, err := range errs {
		var te *ThrottledError
		switch {
		case errors.Is(err, ErrInvalidCredentials):
			wrong++
		case errors.As(err, &te):
			throttled++
		default:
			t.Fatalf("guess: %v", err)
		}
	}
	if wrong != 50 || throttled != guesses-50 || r.derived.Load()-before != 50 {
		t.Fatalf("%d wrong, %d throttled, %d hashes; want 50, %d, 50", wrong, throttled, r.derived.Load()-before, guesses-50)
	}
	// The owner's browser, holding a device cookie, still gets in.
	if _, err := r.Login(context.Background(), "alice", "correct horse", "192.0.2.1", true); err != nil {
		t.Fatalf("owner with a device cookie: %v", err)
	}
}
