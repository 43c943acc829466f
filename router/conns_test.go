package router

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// limitedServer serves h on a ConnLimiter of capacity; idle receives each
// connection the server marks idle.
func limitedServer(t *testing.T, h http.Handler, capacity int) (srv *httptest.Server, lim *ConnLimiter, idle <-chan net.Conn) {
	t.Helper()
	srv = httptest.NewUnstartedServer(h)
	lim = LimitConns(srv.Listener, capacity)
	// Each client here waits for its answer before it sends again, so a
	// connection is idle the moment the server says so.
	lim.keptAliveGrace = 0
	srv.Listener = lim
	idleConns := make(chan net.Conn, 1000)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		lim.ConnState(c, s)
		if s == http.StateIdle {
			select {
			case idleConns <- c:
			default:
			}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, lim, idleConns
}

// parkIdle opens a keep-alive connection, makes one request on it and
// leaves it open once the server counts it idle.
func parkIdle(t *testing.T, srv *httptest.Server, idle <-chan net.Conn) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: cubby\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	select {
	case <-idle:
	case <-time.After(failAfter):
		t.Fatal("the server never counted the connection idle")
	}
	return conn
}

// closedByServer reports whether the server has closed conn: a read ends
// at once with EOF. An open idle connection sends nothing, so the read
// waits out its short deadline.
func closedByServer(conn net.Conn) bool {
	conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := conn.Read(make([]byte, 1))
	return err == io.EOF
}

// With the connection cap reached by idle keep-alive connections, writers
// still get in and every one of their requests is answered, none with a
// 500: the limiter makes room by closing idle connections, the longest
// idle first, and no connection in use.
func TestIdleKeepAlivesMakeRoomForWriters(t *testing.T) {
	const capacity, idlers, writers, writes = 8, 20, 4, 10
	r := newRig(t, rigOptions{})
	cookies := make([]*http.Cookie, writers)
	for i := range cookies {
		c := r.client()
		c.signup(fmt.Sprintf("writer%d", i), "correct horse")
		cookies[i] = c.cookie
	}
	srv, lim, idle := limitedServer(t, r.app, capacity)
	parked := make([]net.Conn, idlers)
	for i := range parked {
		parked[i] = parkIdle(t, srv, idle)
	}

	statuses := make(chan int, writers*writes)
	var wg sync.WaitGroup
	for _, cookie := range cookies {
		// Each writer's connection stays open until the test ends: one
		// closed by a writer that finished early would free a slot, and a
		// writer still to dial would then take it without closing an idle
		// connection (seen once under load: 16 closed, not 17).
		client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
		t.Cleanup(client.CloseIdleConnections)
		wg.Go(func() {
			for i := range writes {
				req, _ := http.NewRequest("POST", srv.URL+"/api/v1/notes",
					bytes.NewReader(fmt.Appendf(nil, `{"title":"note %d"}`, i)))
				req.AddCookie(cookie)
				res, err := client.Do(req)
				if err != nil {
					t.Errorf("write %d: %v", i, err)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				statuses <- res.StatusCode
			}
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusCreated {
			t.Errorf("a writer got %d", s)
		}
	}
	// Accept holds one slot for the next newcomer, so capacity-1 stay open.
	evicted := idlers + writers - (capacity - 1)
	if got, want := lim.Evicted(), uint64(evicted); got != want {
		t.Errorf("%d idle connections closed; want %d", got, want)
	}
	for i, conn := range parked {
		if closed, want := closedByServer(conn), i < evicted; closed != want {
			t.Errorf("idle connection %d (of %d, oldest first): closed %v; want %v", i, idlers, closed, want)
		}
	}
}

// When every connection is busy there is nothing to close: a newcomer
// waits for room instead of being refused, and is answered.
func TestNewcomerWaitsForABusyConnectionToFinish(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	})
	srv, _, _ := limitedServer(t, h, 2)
	get := func(path string, done chan<- int) {
		client := &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		res, err := client.Get(srv.URL + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			done <- 0
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}
	done := make(chan int, 3)
	go get("/slow", done)
	go get("/slow", done)
	<-entered
	<-entered
	go get("/quick", done)
	close(release)
	for range 3 {
		if s := <-done; s != http.StatusOK {
			t.Fatalf("status %d", s)
		}
	}
}

// The connection closed to make room is the one idle longest, a kept-alive
// one before one that connected and has sent nothing, each past its grace;
// a connection in use, or within its grace, is never closed, and the
// limiter says when the first grace ends.
func TestLimiterPicksTheLongestIdleConnection(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start
	lim := LimitConns(nil, 10)
	lim.now = func() time.Time { return now }
	add := func(s http.ConnState, age time.Duration) *limitedConn {
		c := &limitedConn{l: lim}
		c.enter(s, now.Add(-age))
		lim.conns[c] = struct{}{}
		return c
	}
	pick := func() (*limitedConn, time.Duration) {
		lim.mu.Lock()
		defer lim.mu.Unlock()
		return lim.idlestLocked()
	}
	add(http.StateActive, time.Hour)
	add(http.StateHijacked, time.Hour)
	if c, retry := pick(); c != nil || retry != 0 {
		t.Fatalf("picked %+v, retry %v; want nothing to wait for", c, retry)
	}
	add(http.StateNew, newConnGrace/2)
	add(http.StateIdle, keptAliveGrace/4)
	if c, retry := pick(); c != nil || retry != keptAliveGrace*3/4 {
		t.Fatalf("picked %+v, retry %v; want none until the idle one's grace ends", c, retry)
	}
	silent := add(http.StateNew, 2*newConnGrace)
	if c, _ := pick(); c != silent {
		t.Fatalf("picked %+v; want the silent new connection", c)
	}
	add(http.StateIdle, 2*keptAliveGrace)
	oldest := add(http.StateIdle, time.Minute)
	if c, _ := pick(); c != oldest {
		t.Fatalf("picked %+v; want the longest idle kept-alive connection", c)
	}
	delete(lim.conns, oldest)
	now = start.Add(time.Hour) // every connection is past its grace; kept-alive still first
	if c, _ := pick(); c == nil || !isIdleSince(c, start.Add(-2*keptAliveGrace)) {
		t.Fatalf("picked %+v; want the kept-alive connection idle longest", c)
	}
}

// isIdleSince reports whether c is kept alive and idle since t.
func isIdleSince(c *limitedConn, t time.Time) bool {
	s, since := c.current()
	return s == http.StateIdle && since.Equal(t)
}

// ConnState runs twice a request on every connection, from every core:
// BenchmarkConnState is what a request pays for it, with 64 connections
// served in parallel.
func BenchmarkConnState(b *testing.B) {
	lim := LimitConns(nil, 128)
	conns := make([]*limitedConn, 64)
	for i := range conns {
		conns[i] = &limitedConn{l: lim}
		conns[i].enter(http.StateNew, time.Now())
		lim.conns[conns[i]] = struct{}{}
	}
	var next atomic.Int32
	b.RunParallel(func(pb *testing.PB) {
		c := conns[int(next.Add(1))%len(conns)]
		for pb.Next() {
			lim.ConnState(c, http.StateActive)
			lim.ConnState(c, http.StateIdle)
		}
	})
}
