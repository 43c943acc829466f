package auth

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ThrottleConfig sets the limits of a Throttle. A zero field takes the
// default named beside it.
type ThrottleConfig struct {
	PairLimit int              // failures per (client address, username) pair per window; 10
	AddrLimit int              // failures per client address, any username, per window; 100
	UserLimit int              // failures per username, any address, before only devices pass; 50
	Window    time.Duration    // how long failures count; 15 minutes
	MaxKeys   int              // pairs, addresses and usernames tracked at once, each; 100,000
	Now       func() time.Time // the clock; time.Now
	// Counter, if set, keeps the counts instead of this process's memory,
	// so that every node of a cluster counts against the same limits
	// (MaxKeys is then unused); see throttle_shared.go.
	Counter Counter
}

// withDefaults fills the zero fields of c.
func (c ThrottleConfig) withDefaults() ThrottleConfig {
	if c.PairLimit <= 0 {
		c.PairLimit = 10
	}
	if c.AddrLimit <= 0 {
		c.AddrLimit = 100
	}
	if c.UserLimit <= 0 {
		c.UserLimit = 50
	}
	if c.Window <= 0 {
		c.Window = 15 * time.Minute
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = defaultMaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// defaultMaxKeys is how many keys of each kind a Throttle, and the signup
// limit, track at most by default.
const defaultMaxKeys = 100_000

// maxThrottleKeyLen bounds the bytes a Throttle keeps per key: longer usernames or
// addresses (which validation would reject anyway) are kept as their SHA-256.
const maxThrottleKeyLen = 64

// Throttle counts failed logins (in memory, or in a Counter shared by the
// nodes of a cluster) and refuses further attempts, so that guessing is
// slow without letting anyone lock an owner out. Failures are counted
// three ways, each with its own limit within the window:
//
//   - per (client address, lower-cased username) pair: the pair is refused
//     at PairLimit. Guessing one account from one address stops there,
//     and nobody else is affected.
//   - per client address: every login from it is refused at AddrLimit, so
//     one address cannot spray many usernames.
//   - per username, from all addresses: at UserLimit, only attempts from a
//     client holding a valid device cookie for that username go on (to the
//     pair and address rules). This stops guessing spread over many
//     addresses while the owner's own browsers still get in.
//
// Only failures count; a success clears its pair (not the address or the
// username: one good password does not vouch for the other guesses). An
// attempt being checked counts as a failure until it turns out otherwise
// (Begin, Undo), so that attempts sent at once are throttled as if they
// came one after another.
//
// Each key has a fixed window that opens at its first failure and closes
// Window later, when the count starts again from zero; Retry-After is the
// time left until the blocking key's window closes. Memory is bounded: at
// most MaxKeys keys of each kind are tracked, expired windows are dropped
// as time passes, and when a table is full the key whose window closes
// soonest is forgotten to make room (a Counter bounds its own memory).
// A Throttle is safe for concurrent use.
type Throttle struct {
	now    func() time.Time
	shared *sharedThrottle // nil: the tables below count
	mu     sync.Mutex
	pairs  *failureTable
	addrs  *failureTable
	users  *failureTable
}

// NewThrottle returns a Throttle with cfg's limits, defaults filling any zero
// field.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	cfg = cfg.withDefaults()
	if cfg.Counter != nil {
		return &Throttle{now: cfg.Now, shared: &sharedThrottle{cfg: cfg}}
	}
	return &Throttle{
		now:   cfg.Now,
		pairs: newFailureTable(cfg.PairLimit, cfg.Window, cfg.MaxKeys),
		addrs: newFailureTable(cfg.AddrLimit, cfg.Window, cfg.MaxKeys),
		users: newFailureTable(cfg.UserLimit, cfg.Window, cfg.MaxKeys),
	}
}

// blockedLocked says how long the attempt must still wait; t.mu is held. The
// username's own count does not hold back a client with a device cookie.
func (t *Throttle) blockedLocked(username, addr string, device bool, now time.Time) time.Duration {
	wait := max(t.pairs.blockedFor(pairKey(username, addr), now), t.addrs.blockedFor(addrKey(addr), now))
	if user := t.users.blockedFor(userKey(username), now); !device {
		wait = max(wait, user)
	}
	return wait
}

// failLocked counts one failure against the pair, addr and username; t.mu
// is held.
func (t *Throttle) failLocked(username, addr string, now time.Time) {
	t.pairs.add(pairKey(username, addr), now)
	t.addrs.add(addrKey(addr), now)
	t.users.add(userKey(username), now)
}

// Begin reports whether a login for username from addr may go ahead, and
// if so counts it as a failure from the start, so that guesses sent at once
// cannot all be let through before any of them has failed and been counted.
// device says the client holds a valid device cookie for username. Call it
// before any hashing, and Undo (or Passed) when the attempt turns out not
// to be a wrong guess. When ok is false nothing is counted and retryAfter
// is how long until the blocking count falls below its limit (always
// positive). err is set, and ok false, only when a Counter could not be
// reached: the attempt is then refused (ErrUnavailable).
func (t *Throttle) Begin(ctx context.Context, username, addr string, device bool) (retryAfter time.Duration, ok bool, err error) {
	now := t.now()
	if t.shared != nil {
		return t.shared.begin(ctx, username, addr, device, now)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if retryAfter = t.blockedLocked(username, addr, device, now); retryAfter > 0 {
		return retryAfter, false, nil
	}
	t.failLocked(username, addr, now)
	return 0, true, nil
}

// Undo takes back the failure Begin counted, for an attempt that did not
// fail: a right password, or an error before the password was judged.
// (Passed also clears the pair, as Success does.)
func (t *Throttle) Undo(ctx context.Context, username, addr string) error {
	if t.shared != nil {
		return t.shared.give(ctx, username, addr, false)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pairs.sub(pairKey(username, addr))
	t.addrs.sub(addrKey(addr))
	t.users.sub(userKey(username))
	return nil
}

// Success clears the failures of username from addr. The address's count
// and the username's count from everywhere stay: one good password does not
// vouch for everything else sent from that address, nor for guesses at the
// account sent from elsewhere.
func (t *Throttle) Success(ctx context.Context, username, addr string) error {
	if t.shared != nil {
		return t.shared.forgetPair(ctx, username, addr)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pairs.remove(pairKey(username, addr))
	return nil
}

// Passed is Undo and Success in one step, for an attempt Begin counted
// that turned out the right password (one request to a Counter, not two).
func (t *Throttle) Passed(ctx context.Context, username, addr string) error {
	if t.shared != nil {
		return t.shared.give(ctx, username, addr, true)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pairs.remove(pairKey(username, addr))
	t.addrs.sub(addrKey(addr))
	t.users.sub(userKey(username))
	return nil
}

// userKey is the table key of a username: lower-cased, so that every spelling
// of one name shares a count, and bounded in length.
func userKey(username string) string {
	return boundKey(strings.ToLower(username))
}

// addrKey is the table key of a client address. An IPv6 address counts as
// its /64: one client is routinely given a whole /64, and could otherwise
// take a fresh address for every attempt. Anything else is kept as it is,
// bounded in length.
func addrKey(addr string) string {
	if a, err := netip.ParseAddr(addr); err == nil && a.Is6() && !a.Is4In6() {
		if p, err := a.WithZone("").Prefix(64); err == nil {
			return p.String()
		}
	}
	return boundKey(addr)
}

// pairKey is the table key of a (client address, username) pair: both keys,
// the first prefixed with its length so that no two pairs share a key.
func pairKey(username, addr string) string {
	a := addrKey(addr)
	return strconv.Itoa(len(a)) + ":" + a + userKey(username)
}

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
