package auth

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"
)

// ThrottleConfig sets the limits of a Throttle. A zero field takes the
// default named beside it.
type ThrottleConfig struct {
	UserLimit int              // failures per username per window; 10
	AddrLimit int              // failures per client address per window; 100
	Window    time.Duration    // how long failures count; 15 minutes
	MaxKeys   int              // usernames, and separately addresses, tracked at once; 100,000
	Now       func() time.Time // the clock; time.Now
}

// withDefaults fills the zero fields of c.
func (c ThrottleConfig) withDefaults() ThrottleConfig {
	if c.UserLimit <= 0 {
		c.UserLimit = 10
	}
	if c.AddrLimit <= 0 {
		c.AddrLimit = 100
	}
	if c.Window <= 0 {
		c.Window = 15 * time.Minute
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// maxThrottleKeyLen bounds the bytes a Throttle keeps per key: longer usernames or
// addresses (which validation would reject anyway) are kept as their SHA-256.
const maxThrottleKeyLen = 64

// Throttle counts failed logins in memory, per lower-cased username (known or
// not) and per client address, and refuses further attempts once either
// count reaches its limit within the window. Only failures count; a success
// clears the username's count. An attempt being checked counts as a failure
// until it turns out otherwise (Begin, Undo), so that attempts sent at once
// are throttled as if they came one after another.
//
// Each key has a fixed window that opens at its first failure and closes
// Window later, when the count starts again from zero; Retry-After is the
// time left until that close. Memory is bounded: at most MaxKeys usernames
// and MaxKeys addresses are tracked, expired windows are dropped as time
// passes, and when the table is full the key whose window closes soonest is
// forgotten to make room. A Throttle is safe for concurrent use.
type Throttle struct {
	now   func() time.Time
	mu    sync.Mutex
	users *failureTable
	addrs *failureTable
}

// NewThrottle returns a Throttle with cfg's limits, defaults filling any zero
// field.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	cfg = cfg.withDefaults()
	return &Throttle{
		now:   cfg.Now,
		users: newFailureTable(cfg.UserLimit, cfg.Window, cfg.MaxKeys),
		addrs: newFailureTable(cfg.AddrLimit, cfg.Window, cfg.MaxKeys),
	}
}

// Allow reports whether a login for username from addr may go ahead. Call it
// before any hashing. When ok is false, retryAfter is how long until the
// blocking count falls below its limit (always positive).
func (t *Throttle) Allow(username, addr string) (retryAfter time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	retryAfter = t.blockedLocked(username, addr, t.now())
	return retryAfter, retryAfter == 0
}

// Failure records a failed login for username from addr.
func (t *Throttle) Failure(username, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failLocked(username, addr, t.now())
}

// blockedLocked says how long username and addr must still wait; t.mu is held.
func (t *Throttle) blockedLocked(username, addr string, now time.Time) time.Duration {
	return max(t.users.blockedFor(userKey(username), now), t.addrs.blockedFor(addrKey(addr), now))
}

// failLocked counts one failure against username and addr; t.mu is held.
func (t *Throttle) failLocked(username, addr string, now time.Time) {
	t.users.add(userKey(username), now)
	t.addrs.add(addrKey(addr), now)
}

// Begin is Allow and Failure in one step, for a login about to be checked:
// the attempt counts as a failure from the start, so that guesses sent at
// once cannot all pass Allow before any of them has failed and been
// counted. Call Undo when the attempt turns out not to be a wrong guess.
// When ok is false nothing is counted and retryAfter is as for Allow.
func (t *Throttle) Begin(username, addr string) (retryAfter time.Duration, ok bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if retryAfter = t.blockedLocked(username, addr, now); retryAfter > 0 {
		return retryAfter, false
	}
	t.failLocked(username, addr, now)
	return 0, true
}

// Undo takes back the failure Begin counted, for an attempt that did not
// fail: a right password, or an error before the password was judged.
func (t *Throttle) Undo(username, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.users.sub(userKey(username))
	t.addrs.sub(addrKey(addr))
}

// Success clears the failures counted against username. The address's count
// stays: one good password does not vouch for everything else sent from it.
func (t *Throttle) Success(username string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.users.remove(userKey(username))
}

// userKey is the table key of a username: lower-cased, so that every spelling
// of one name shares a count, and bounded in length.
func userKey(username string) string {
	return boundKey(strings.ToLower(username))
}

// addrKey is the table key of a client address, bounded in length.
func addrKey(addr string) string { return boundKey(addr) }

// boundKey returns s, or its SHA-256 in hex when s is longer than
// maxThrottleKeyLen, so a hostile request cannot make a key large.
func boundKey(s string) string {
	if len(s) <= maxThrottleKeyLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// failureTable is one kind of count (usernames or addresses). Entries sit in
// a list ordered by when their window opened; since every window has the same
// length, that is also the order in which they close, so expired entries are
// always at the front. The caller holds the Throttle's lock.
type failureTable struct {
	limit   int
	window  time.Duration
	maxKeys int
	order   *list.List               // of *failureCount, oldest window first
	byKey   map[string]*list.Element // key → element in order
}

// failureCount is the count of one key within its current window.
type failureCount struct {
	key    string
	opened time.Time
	count  int
}

// newFailureTable returns an empty table.
func newFailureTable(limit int, window time.Duration, maxKeys int) *failureTable {
	return &failureTable{
		limit:   limit,
		window:  window,
		maxKeys: maxKeys,
		order:   list.New(),
		byKey:   make(map[string]*list.Element),
	}
}

// blockedFor returns how long key stays blocked, or 0 when it is not.
func (f *failureTable) blockedFor(key string, now time.Time) time.Duration {
	f.prune(now)
	e, ok := f.byKey[key]
	if !ok {
		return 0
	}
	c := e.Value.(*failureCount)
	if c.count < f.limit {
		return 0
	}
	return max(c.opened.Add(f.window).Sub(now), time.Nanosecond)
}

// add counts one failure for key, opening a new window if it has none.
func (f *failureTable) add(key string, now time.Time) {
	f.prune(now)
	if e, ok := f.byKey[key]; ok {
		e.Value.(*failureCount).count++
		return
	}
	for f.order.Len() >= f.maxKeys {
		f.remove(f.order.Front().Value.(*failureCount).key)
	}
	f.byKey[key] = f.order.PushBack(&failureCount{key: key, opened: now, count: 1})
}

// sub takes one failure back from key, forgetting the key at zero.
func (f *failureTable) sub(key string) {
	e, ok := f.byKey[key]
	if !ok {
		return
	}
	if c := e.Value.(*failureCount); c.count > 1 {
		c.count--
		return
	}
	f.remove(key)
}

// remove forgets key.
func (f *failureTable) remove(key string) {
	if e, ok := f.byKey[key]; ok {
		f.order.Remove(e)
		delete(f.byKey, key)
	}
}

// prune drops every entry whose window has closed by now.
func (f *failureTable) prune(now time.Time) {
	for e := f.order.Front(); e != nil; e = f.order.Front() {
		c := e.Value.(*failureCount)
		if now.Before(c.opened.Add(f.window)) {
			return
		}
		f.remove(c.key)
	}
}

// len returns how many keys the table tracks.
func (f *failureTable) len() int { return f.order.Len() }
