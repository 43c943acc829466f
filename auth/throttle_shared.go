package auth

import (
	"context"
	"fmt"
	"time"
)

// On a cluster, a guesser who spreads attempts over N nodes would get N
// times the budget from per-process counts, so the Throttle and the signup
// limit can keep their counts in a Counter instead (ThrottleConfig.Counter,
// AccountsConfig.Counter). The rules stay the ones Throttle documents; only
// where the numbers live changes. Each Begin is one Counter.Take of the
// three counts, each Undo or Passed one Give: a round trip on the sign-in
// path only, which a failed sign-in's argon2 hash dwarfs, and never on a
// signed-in request. A Counter that cannot be reached refuses the attempt
// (ErrUnavailable): on a cluster node, losing etcd also means losing its
// lease, so the node has stopped serving its tenants anyway.

// Key prefixes of the counts kept in a Counter: each kind apart.
const (
	counterPair   = "login-pair/"
	counterAddr   = "login-addr/"
	counterUser   = "login-user/"
	counterSignup = "signup-addr/"
)

// sharedThrottle is a Throttle's rules over a Counter.
type sharedThrottle struct {
	cfg ThrottleConfig // with defaults; Counter set
}

// begin is Throttle.Begin over the Counter.
func (s *sharedThrottle) begin(ctx context.Context, username, addr string, device bool, now time.Time) (time.Duration, bool, error) {
	userLimit := s.cfg.UserLimit
	if device {
		userLimit = 0 // counted, not checked
	}
	wait, err := s.cfg.Counter.Take(ctx, now, []Count{
		{Key: counterPair + pairKey(username, addr), Limit: s.cfg.PairLimit, Window: s.cfg.Window},
		{Key: counterAddr + addrKey(addr), Limit: s.cfg.AddrLimit, Window: s.cfg.Window},
		{Key: counterUser + userKey(username), Limit: userLimit, Window: s.cfg.Window},
	})
	if err != nil {
		return 0, false, fmt.Errorf("%w: count the attempt: %w", ErrUnavailable, err)
	}
	return wait, wait <= 0, nil
}

// give takes back what begin counted; passed also forgets the pair.
func (s *sharedThrottle) give(ctx context.Context, username, addr string, passed bool) error {
	pair := counterPair + pairKey(username, addr)
	sub := []string{counterAddr + addrKey(addr), counterUser + userKey(username)}
	var forget []string
	if passed {
		forget = []string{pair}
	} else {
		sub = append(sub, pair)
	}
	if err := s.cfg.Counter.Give(ctx, sub, forget); err != nil {
		return fmt.Errorf("take back a login attempt: %w", err)
	}
	return nil
}

// forgetPair is Throttle.Success over the Counter.
func (s *sharedThrottle) forgetPair(ctx context.Context, username, addr string) error {
	if err := s.cfg.Counter.Give(ctx, nil, []string{counterPair + pairKey(username, addr)}); err != nil {
		return fmt.Errorf("clear a login pair: %w", err)
	}
	return nil
}
