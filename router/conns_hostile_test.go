package router

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener counts the connections it has handed out and not yet
// seen closed, and the most there ever were at once.
type countingListener struct {
	net.Listener
	open, most atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for m := l.most.Load(); n > m && !l.most.CompareAndSwap(m, n); m = l.most.Load() {
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// TestLimiterHoldsItsCapUnderAHostileCrowd: a crowd of clients at once —
// some connect and send nothing, some make a request and stay idle, some
// send their request a byte at a time, some make one request and go —
// never has more connections held than the cap, leaves no Accept stuck and
// no connection counted once every client has gone (run with -race:
// ConnState, Accept and Close race on each connection's state). Not
// asserted: that every request begun is answered. With no grace at all, a
// connection can be taken to close as silent or idle in the moment its
// request arrives, as with any server that closes idle connections.
func TestLimiterHoldsItsCapUnderAHostileCrowd(t *testing.T) {
	const capacity, clients = 3, 48
	var begun, answered atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begun.Add(1)
		io.WriteString(w, "ok")
	})
	srv := httptest.NewUnstartedServer(h)
	counted := &countingListener{Listener: srv.Listener}
	lim := LimitConns(counted, capacity)
	lim.keptAliveGrace, lim.newConnGrace = 0, 0 // every idle or silent connection may go at once
	srv.Listener = lim
	srv.Config.ConnState = lim.ConnState
	srv.Start()
	defer srv.Close()

	// gone is closed once every client has done what it came to do; the
	// silent and idle ones that were not closed to make room leave then.
	gone := make(chan struct{})
	var active, all sync.WaitGroup
	for i := range clients {
		active.Add(1)
		all.Go(func() {
			activeDone := sync.OnceFunc(active.Done)
			defer activeDone()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(failAfter))
			br := bufio.NewReader(conn)
			request := "GET /x HTTP/1.1\r\nHost: cubby\r\n\r\n"
			switch i % 4 {
			case 0: // silent
			case 1, 2: // the request a byte at a time, or at once; then kept alive
				if i%4 == 1 {
					for j := range len(request) {
						if _, err := conn.Write([]byte{request[j]}); err != nil {
							return // closed as silent before it had all of it
						}
					}
				} else if _, err := io.WriteString(conn, request); err != nil {
					return
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					return // closed before the server read a whole request
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				answered.Add(1)
			case 3: // one request, then gone
				io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: cubby\r\nConnection: close\r\n\r\n")
				if res, err := http.ReadResponse(br, nil); err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					answered.Add(1)
				}
				return
			}
			// Stay until the server closes the connection or the crowd has gone.
			closed := make(chan struct{})
			go func() {
				defer close(closed)
				io.Copy(io.Discard, br)
			}()
			activeDone()
			select {
			case <-closed:
			case <-gone:
			}
		})
	}
	within := func(wg *sync.WaitGroup, what string) {
		t.Helper()
		waited := make(chan struct{})
		go func() { wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(failAfter):
			t.Errorf("%s after %v: %d held, %d evicted", what, failAfter, lim.Open(), lim.Evicted())
		}
	}
	within(&active, "clients still waiting to be served")
	close(gone)
	within(&all, "clients still not gone")
	if most := counted.most.Load(); most > capacity {
		t.Errorf("%d connections held at once; the cap is %d", most, capacity)
	}
	if answered.Load() == 0 {
		t.Errorf("no request answered (%d begun)", begun.Load())
	}
	for deadline := time.Now().Add(failAfter); lim.Open() > 0 || counted.open.Load() > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("every client gone, but the limiter still counts %d connections (%d not closed)", lim.Open(), counted.open.Load())
		}
	}
}
