package auth

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// signupLimit counts the accounts made per client address within a window,
// with the same bounded table as the login throttle, or in a Counter shared
// by the nodes of a cluster. A nil *signupLimit allows everything. It is
// safe for concurrent use.
type signupLimit struct {
	now    func() time.Time
	shared Counter // nil: addrs counts
	limit  int
	window time.Duration
	mu     sync.Mutex
	addrs  *failureTable
}

// newSignupLimit allows limit accounts per address per window, counted in
// shared when it is not nil.
func newSignupLimit(limit int, window time.Duration, now func() time.Time, shared Counter) *signupLimit {
	if shared != nil {
		return &signupLimit{now: now, shared: shared, limit: limit, window: window}
	}
	return &signupLimit{now: now, addrs: newFailureTable(limit, window, defaultMaxKeys)}
}

// begin counts an account about to be made from addr, or refuses it with
// how long until addr may make another. Call undo if no account is made.
// err (ErrUnavailable) means a shared count could not be reached.
func (l *signupLimit) begin(ctx context.Context, addr string) (retryAfter time.Duration, ok bool, err error) {
	if l == nil {
		return 0, true, nil
	}
	now := l.now()
	if l.shared != nil {
		wait, err := l.shared.Take(ctx, now, []Count{{Key: counterSignup + addrKey(addr), Limit: l.limit, Window: l.window}})
		if err != nil {
			return 0, false, fmt.Errorf("%w: count the signup: %w", ErrUnavailable, err)
		}
		return wait, wait <= 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if retryAfter = l.addrs.blockedFor(addrKey(addr), now); retryAfter > 0 {
		return retryAfter, false, nil
	}
	l.addrs.add(addrKey(addr), now)
	return 0, true, nil
}

// undo takes back what begin counted for addr.
func (l *signupLimit) undo(ctx context.Context, addr string) error {
	if l == nil {
		return nil
	}
	if l.shared != nil {
		if err := l.shared.Give(ctx, []string{counterSignup + addrKey(addr)}, nil); err != nil {
			return fmt.Errorf("take back a signup: %w", err)
		}
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addrs.sub(addrKey(addr))
	return nil
}
