package router

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ConnLimiter is a net.Listener that holds at most a fixed number of
// connections open, because each costs a file descriptor from the budget
// the pool's handles and routing.db draw on too: a crowd of idle keep-alive
// connections must never leave a request unable to open a user's file.
//
// At its cap, Accept makes room by closing the connection that has been
// idle longest: between requests on a kept-alive connection for at least
// keptAliveGrace, or connected for newConnGrace without sending a request.
// With none to close it waits until one closes or has idled long enough,
// leaving newcomers in the kernel's backlog, rather than taking them and
// failing. The bound is strict: while Accept
// waits for a newcomer it holds one slot for it, so at rest the server
// keeps at most max-1 connections. Give ConnState to the http.Server that
// serves it, which is how the limiter learns what is idle.
type ConnLimiter struct {
	net.Listener
	max int
	now func() time.Time
	// epoch is when the limiter was made: a connection's since is kept as
	// an offset from it (monotonic, as time.Time.Sub reads both).
	epoch time.Time
	// graces are how long a connection must have been idle (kept alive)
	// or silent (new) before it may be closed.
	keptAliveGrace, newConnGrace time.Duration

	mu    sync.Mutex
	open  int // connections held, and the one Accept is taking
	conns map[*limitedConn]struct{}

	wake    chan struct{} // a connection closed or went idle
	done    chan struct{} // closed by Close
	once    sync.Once
	evicted atomic.Uint64
}

// Grace periods before a connection counts as idle. A client that has
// just had an answer is likely to send its next request on the same
// connection at once, and closing it then loses that request (clients
// retry only idempotent ones), so it gets a moment. A client that connects
// and sends nothing holds a descriptor as surely as an idle keep-alive.
const (
	keptAliveGrace = time.Second
	newConnGrace   = 2 * time.Second
)

// LimitConns wraps ln so that at most n connections are open at once
// (n < 1 counts as 1).
func LimitConns(ln net.Listener, n int) *ConnLimiter {
	return &ConnLimiter{
		Listener: ln, max: max(n, 1), now: time.Now, epoch: time.Now(),
		keptAliveGrace: keptAliveGrace, newConnGrace: newConnGrace,
		conns: make(map[*limitedConn]struct{}),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// Cap is the most connections the limiter holds at once.
func (l *ConnLimiter) Cap() int { return l.max }

// Open is the number of connections open now.
func (l *ConnLimiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Evicted counts the idle connections closed to make room.
func (l *ConnLimiter) Evicted() uint64 { return l.evicted.Load() }

// Accept waits for room, closing the longest-idle connection if that makes
// it, then accepts the next connection.
func (l *ConnLimiter) Accept() (net.Conn, error) {
	if err := l.reserve(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.unreserve()
		return nil, err
	}
	lc := &limitedConn{Conn: c, l: l}
	lc.enter(http.StateNew, l.now())
	l.mu.Lock()
	l.conns[lc] = struct{}{}
	l.mu.Unlock()
	return lc, nil
}

// reserve takes a slot for the connection Accept is about to take.
func (l *ConnLimiter) reserve() error {
	for {
		l.mu.Lock()
		if l.open < l.max {
			l.open++
			l.mu.Unlock()
			return nil
		}
		victim, retry := l.idlestLocked()
		l.mu.Unlock()
		if victim != nil {
			l.evicted.Add(1)
			victim.Close() // frees its slot
			continue
		}
		if err := l.wait(retry); err != nil {
			return err
		}
	}
}

// wait returns when a connection closes or goes idle, after retry (when
// some connection's grace ends) if that is not zero, or with an error when
// the limiter is closed.
func (l *ConnLimiter) wait(retry time.Duration) error {
	var graceOver <-chan time.Time
	if retry > 0 {
		t := time.NewTimer(retry)
		defer t.Stop()
		graceOver = t.C
	}
	select {
	case <-l.wake:
	case <-graceOver:
	case <-l.done:
		return net.ErrClosed
	}
	return nil
}

func (l *ConnLimiter) unreserve() {
	l.mu.Lock()
	l.open--
	l.mu.Unlock()
	l.signal()
}

// idlestLocked returns the connection idle longest past its grace,
// preferring kept-alive ones to silent new ones. When there is none it
// returns how long until the first grace ends, or zero if no connection is
// idle at all.
func (l *ConnLimiter) idlestLocked() (best *limitedConn, retry time.Duration) {
	var bestState http.ConnState
	now := l.now()
	var bestSince time.Time
	for c := range l.conns {
		state, since := c.current()
		var grace time.Duration
		switch state {
		case http.StateIdle:
			grace = l.keptAliveGrace
		case http.StateNew:
			grace = l.newConnGrace
		default:
			continue
		}
		if wait := since.Add(grace).Sub(now); wait > 0 {
			if retry == 0 || wait < retry {
				retry = wait
			}
			continue
		}
		if best == nil || rank(state) < rank(bestState) || rank(state) == rank(bestState) && since.Before(bestSince) {
			best, bestState, bestSince = c, state, since
		}
	}
	if best != nil {
		retry = 0
	}
	return best, retry
}

// rank orders the kinds of idle connection: kept-alive first.
func rank(s http.ConnState) int {
	if s == http.StateIdle {
		return 0
	}
	return 1
}

// ConnState records each connection's state; set it as the http.Server's
// ConnState (calling any other hook from it). It runs twice a request
// (active, then idle), so it takes no lock the limiter shares: the state
// is the connection's own, read by idlestLocked as it stands.
func (l *ConnLimiter) ConnState(c net.Conn, s http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok || lc.l != l {
		return
	}
	if s != http.StateIdle {
		// Only an idle connection's time counts (idlestLocked): an active
		// one's is not read, and a clock read is dear on some machines.
		lc.state.Store(int32(s))
		return
	}
	lc.enter(s, l.now())
	l.signal()
}

// signal wakes an Accept waiting for room. A wake-up already pending
// serves: then it takes no lock (the channel's).
func (l *ConnLimiter) signal() {
	if len(l.wake) == cap(l.wake) {
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Close stops accepting; open connections stay with their server. It is
// safe to call twice.
func (l *ConnLimiter) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitedConn is a connection the limiter counts until it is closed.
type limitedConn struct {
	net.Conn
	l *ConnLimiter
	// state and since (when it entered state, as an offset from l.epoch)
	// are set by enter and read by current, without a lock.
	state atomic.Int32
	since atomic.Int64
	once  sync.Once
}

// enter records that c entered state s at t. since is stored before
// state, so a reader that sees s sees when it began (or a later time,
// which only makes the connection look idle for less long).
func (c *limitedConn) enter(s http.ConnState, t time.Time) {
	c.since.Store(int64(t.Sub(c.l.epoch)))
	c.state.Store(int32(s))
}

// current returns c's state and when it entered it.
func (c *limitedConn) current() (http.ConnState, time.Time) {
	s := http.ConnState(c.state.Load())
	return s, c.l.epoch.Add(time.Duration(c.since.Load()))
}

// Close closes the connection and frees its slot; later calls do nothing.
func (c *limitedConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		err = c.Conn.Close()
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.open--
		c.l.mu.Unlock()
		c.l.signal()
	})
	return err
}
