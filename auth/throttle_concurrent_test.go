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
	th := NewThrottle(ThrottleConfig{UserLimit: 3, AddrLimit: 5, Now: newFakeClock().Now})
	for i := range 3 {
		if _, ok := th.Begin("alice", "1.1.1.1"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if _, ok := th.Begin("ALICE", "2.2.2.2"); ok {
		t.Fatal("a fourth attempt in flight passed a limit of three")
	}
	th.Undo("alice", "1.1.1.1") // one of the three was the right password
	if _, ok := th.Begin("alice", "2.2.2.2"); !ok {
		t.Fatal("an undone attempt still counts")
	}
	for range 3 { // the address has 2 counted after the Undo: three more reach its limit of 5
		th.Begin("carol", "1.1.1.1")
	}
	if _, ok := th.Begin("bob", "1.1.1.1"); ok {
		t.Fatal("the address limit let a sixth attempt through")
	}
	th.Undo("nobody", "9.9.9.9") // nothing counted: nothing to take back
	if th.users.len() != 2 || th.addrs.len() != 2 {
		t.Fatalf("tracking %d users and %d addresses; want 2 (alice, carol) and 2", th.users.len(), th.addrs.len())
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
			_, errs[i] = r.Login(context.Background(), "alice", fmt.Sprint("guess ", i), fmt.Sprint("10.0.0.", i))
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
