package auth

import (
	"sync"
	"time"
)

// signupLimit counts the accounts made per client address within a window,
// with the same bounded table as the login throttle. A nil *signupLimit
// allows everything. It is safe for concurrent use.
type signupLimit struct {
	now   func() time.Time
	mu    sync.Mutex
	addrs *failureTable
}

// newSignupLimit allows limit accounts per address per window.
func newSignupLimit(limit int, window time.Duration, now func() time.Time) *signupLimit {
	return &signupLimit{now: now, addrs: newFailureTable(limit, window, defaultMaxKeys)}
}

// begin counts an account about to be made from addr, or refuses it with
// how long until addr may make another. Call undo if no account is made.
func (l *signupLimit) begin(addr string) (retryAfter time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if retryAfter = l.addrs.blockedFor(addrKey(addr), now); retryAfter > 0 {
		return retryAfter, false
	}
	l.addrs.add(addrKey(addr), now)
	return 0, true
}

// undo takes back what begin counted for addr.
func (l *signupLimit) undo(addr string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addrs.sub(addrKey(addr))
}
