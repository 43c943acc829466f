package auth

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable means the counts that throttle sign-ins could not be
// reached (in a cluster: etcd), so the attempt was refused before any
// hashing. Sign-in fails closed: a guess that cannot be counted is not
// checked.
var ErrUnavailable = errors.New("sign-in is unavailable on this server right now; try again in a moment")

// Counter keeps the counts of the login throttle and the signup limit
// where every node of a cluster sees the same ones (package cluster's
// Counts keeps them in etcd). Without one, a Throttle and the signup limit
// count in this process's memory, which on a cluster would give a guesser
// a budget per node.
//
// A count is a number with a fixed window, as in a Throttle: the window
// opens at the count's first Take and closes Window later, when the count
// starts again from zero.
type Counter interface {
	// Take adds one to every count, unless one that has a Limit is at or
	// past it: then it adds nothing and returns how long until that
	// count's window closes (positive). Concurrent Takes, on any node,
	// behave as if made one after another. now is the caller's clock.
	Take(ctx context.Context, now time.Time, counts []Count) (retryAfter time.Duration, err error)
	// Give takes one back from each count keyed in sub (a count at zero is
	// forgotten, one not kept is left alone) and forgets those in forget.
	Give(ctx context.Context, sub, forget []string) error
}

// Count is one count a Take adds to.
type Count struct {
	// Key names the count; distinct kinds of count use distinct prefixes.
	Key string
	// Limit refuses the Take when the count is at it; 0 counts without
	// checking (a device cookie's holder past the per-username limit).
	Limit int
	// Window is how long the count lasts from its first Take.
	Window time.Duration
}
