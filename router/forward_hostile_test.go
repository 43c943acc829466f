package router

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/tenant"
)

// What a hostile client can do to a request this node forwards, through
// a real cluster.Forwarder (see also forward_test.go).

// farOwners is a tenant.Owners that, once on, says the node at addr owns
// every tenant.
type farOwners struct {
	on   atomic.Bool
	addr string
}

func (o *farOwners) Claim(_ context.Context, id string) (bool, error) {
	if o.on.Load() {
		return false, &tenant.ElsewhereError{Tenant: id, Node: "owner", Address: o.addr}
	}
	return false, nil
}

func (o *farOwners) Release(string) {}

// newRemoteRig is a rig whose pool finds every tenant owned by the node at
// owner once the returned owners are on, and whose App forwards to it as a
// cluster node's does: through a cluster.Forwarder configured by fcfg,
// failing with ForwardFailed, with a Hop both sides share.
func newRemoteRig(t *testing.T, owner string, opts rigOptions, fcfg cluster.ForwarderConfig) (*rig, *farOwners) {
	t.Helper()
	owners := &farOwners{addr: owner}
	opts.pool = tenant.Config{Owners: owners}
	r := newRig(t, opts)
	hop, err := cluster.NewHop(cluster.HopConfig{Key: bytes.Repeat([]byte{7}, cluster.HopKeyLen)})
	if err != nil {
		t.Fatal(err)
	}
	var app *App
	fcfg.NodeID, fcfg.Hop, fcfg.Logger = "here", hop, slog.New(slog.DiscardHandler)
	fcfg.OnError = func(w http.ResponseWriter, req *http.Request, err error) { app.ForwardFailed(w, req, err) }
	fwd := cluster.NewForwarder(fcfg)
	t.Cleanup(func() { fwd.Close() })
	r.cfg.Forwarder, r.cfg.Hops = fwd, hop
	if app, err = New(r.cfg); err != nil {
		t.Fatal(err)
	}
	r.app = app
	return r, owners
}

// securityHeaderNames are the headers every answer of a node carries.
var securityHeaderNames = []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "Cache-Control"}

// A request that cannot be forwarded is answered 503 with every header
// any other answer of this node carries: the security headers, no-store
// and the request id. They were cleared for the owner's answer and never
// put back, so the 503, an HTML page among them, went out without
// frame-ancestors or nosniff. Nor does a client that claims to be a node
// see the mark meant for nodes (cluster.NotServingHeader).
func TestAFailedForwardCarriesTheNodesSecurityHeaders(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	r, owners := newRemoteRig(t, gone.URL, rigOptions{}, cluster.ForwarderConfig{})
	c := r.client()
	c.signup("alice", "correct horse battery")
	direct := c.do("GET", "/api/v1/me", nil).Result().Header
	owners.on.Store(true)
	for _, tc := range []struct {
		name, path, contentType string
		headers                 []string
	}{
		{"a client claiming to be a node", "/api/v1/me", "application/json", []string{cluster.ForwardedByHeader, "x"}},
		{"a client claiming to be a node", "/notes", "text/html", []string{cluster.ForwardedByHeader, "x"}},
		{"an owner that is down", "/api/v1/me", "application/json", nil},
		{"an owner that is down", "/notes", "text/html", nil},
	} {
		rec := c.do("GET", tc.path, nil, append(tc.headers, RequestIDHeader, "hostile-1")...)
		h := rec.Result().Header
		if rec.Code != http.StatusServiceUnavailable || !strings.HasPrefix(h.Get("Content-Type"), tc.contentType) {
			t.Errorf("%s, %s: %d %s; want 503 %s", tc.name, tc.path, rec.Code, h.Get("Content-Type"), tc.contentType)
		}
		for _, k := range securityHeaderNames {
			if got, want := h.Values(k), direct.Values(k); len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("%s, %s: %s is %q; want %q, as on every answer", tc.name, tc.path, k, got, want)
			}
		}
		if got := h.Values(RequestIDHeader); !slices.Equal(got, []string{"hostile-1"}) {
			t.Errorf("%s, %s: %s is %q; want the request's id", tc.name, tc.path, RequestIDHeader, got)
		}
		if got := h.Get(cluster.NotServingHeader); got != "" {
			t.Errorf("%s, %s: the client sees %s %q", tc.name, tc.path, cluster.NotServingHeader, got)
		}
	}
}

// sizedOwner is an owner that answers every request with size bytes, its
// Content-Length said, and the headers a node sends; it is closed when the
// test ends. closed, if not nil, is closed when a connection to it is.
func sizedOwner(t *testing.T, size int, closed chan struct{}) *httptest.Server {
	t.Helper()
	body := bytes.Repeat([]byte("cubby!!\n"), size/8)
	owner := httptest.NewUnstartedServer(securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Cache-Control"] = noStore
		setAttachment(w.Header(), "cubby-alice.sqlite", int64(len(body)))
		w.Write(body) //nolint:errcheck // the forwarding node went away
	})))
	if closed != nil {
		once := sync.OnceFunc(func() { close(closed) })
		owner.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed {
				once()
			}
		}
	}
	owner.Start()
	t.Cleanup(owner.Close)
	return owner
}

// smallBuffers sets the socket's send and receive buffers to 32 KiB, so
// that a test's answer outgrows what the kernel would otherwise absorb.
func smallBuffers(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = errors.Join(syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10),
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 32<<10))
	})
	return errors.Join(err, serr)
}

// smallBufferListener is a loopback listener whose connections have small
// socket buffers (see smallBuffers).
func smallBufferListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := (&net.ListenConfig{Control: smallBuffers}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// getRaw sends GET path as c to srv over a new connection with small
// socket buffers and returns the answer, its body unread.
func getRaw(t *testing.T, srv *httptest.Server, c *client, path string) *http.Response {
	t.Helper()
	conn, err := (&net.Dialer{Control: smallBuffers}).Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: cubby\r\nCookie: %s=%s\r\n\r\n", path, c.cookie.Name, c.cookie.Value)
	res, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A forwarded answer gets the write time its size earns, as it would
// straight from its owner (an export: see export.go): the forwarding node
// used to give it its plain write timeout, and its Forwarder's timeout
// covered the whole body, so a large export read at a fair pace was cut
// off through any node but the owner.
func TestAForwardedAnswerGetsTheWriteTimeOfItsSize(t *testing.T) {
	const size = 2 << 20
	owner := sizedOwner(t, size, nil)
	const limit = 300 * time.Millisecond
	r, owners := newRemoteRig(t, owner.URL, rigOptions{writeTimeout: limit}, cluster.ForwarderConfig{Timeout: limit})
	c := r.client()
	c.signup("alice", "correct horse battery")
	owners.on.Store(true)
	srv := httptest.NewUnstartedServer(r.app)
	srv.Listener.Close()
	srv.Listener = smallBufferListener(t)
	srv.Start()
	t.Cleanup(srv.Close)

	res := getRaw(t, srv, c, "/api/v1/export")
	if res.StatusCode != http.StatusOK || res.ContentLength != size {
		t.Fatalf("forwarded export: %d, %d bytes", res.StatusCode, res.ContentLength)
	}
	start := time.Now()
	var n int64
	var err error
	buf := make([]byte, 32<<10)
	for err == nil { // 512 KiB/s, well above the slowest rate an export waits for
		var m int
		m, err = io.ReadFull(res.Body, buf)
		n += int64(m)
		time.Sleep(time.Until(start.Add(time.Duration(n) * time.Second / (512 << 10))))
	}
	if n != size || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d of %d bytes in %v: %v", n, size, time.Since(start).Round(time.Millisecond), err)
	}
	if time.Since(start) < 4*limit {
		t.Fatalf("the answer took only %v: the test shows nothing", time.Since(start))
	}
}

// A client that stops reading a forwarded answer is still cut off, its
// connection closed, and the connection to the owner too, leaving no
// goroutine behind: the write time a forwarded answer gets is its size's,
// never unbounded.
func TestAClientThatStopsReadingAForwardedAnswerIsCutOff(t *testing.T) {
	const size = 256 << 10 // the write time it earns: 200 ms + 5 s
	ownerClosed := make(chan struct{})
	owner := sizedOwner(t, size, ownerClosed)
	const limit = 200 * time.Millisecond
	r, owners := newRemoteRig(t, owner.URL, rigOptions{writeTimeout: limit}, cluster.ForwarderConfig{Timeout: limit})
	c := r.client()
	c.signup("alice", "correct horse battery")
	owners.on.Store(true)
	closed := make(chan struct{})
	srv := httptest.NewUnstartedServer(r.app)
	srv.Listener.Close()
	srv.Listener = smallBufferListener(t)
	once := sync.OnceFunc(func() { close(closed) })
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			once()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	ignore := goleak.IgnoreCurrent()

	start := time.Now()
	res := getRaw(t, srv, c, "/api/v1/export")
	if res.StatusCode != http.StatusOK || res.ContentLength != size {
		t.Fatalf("forwarded export: %d, %d bytes", res.StatusCode, res.ContentLength)
	}
	select {
	case <-ownerClosed:
	case <-time.After(failAfter):
		t.Fatal("the forwarding node still holds its connection to the owner for a client that reads nothing")
	}
	select {
	case <-closed:
	case <-time.After(failAfter):
		t.Fatal("the forwarding node still holds a connection that reads nothing")
	}
	if took, most := time.Since(start), limit+(size/exportMinRate+1)*time.Second+2*time.Second; took > most {
		t.Errorf("the stalled client was cut off after %v; want within %v", took, most)
	}
	b, err := io.ReadAll(res.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(b) >= size {
		t.Fatalf("read %d of %d bytes: %v; want a cut-off answer", len(b), size, err)
	}
	goleak.VerifyNone(t, ignore)
}

// signedHops vouches for every request that carries X-Test-Signed, a
// stand-in for a hop signed with the cluster's key.
type signedHops struct{}

func (signedHops) Client(r *http.Request) (string, bool) {
	return "203.0.113.9", r.Header.Get("X-Test-Signed") != ""
}

// A fenced node marks its refusal (cluster.NotServingHeader) only for a
// node whose hop it believes, never for a client that sends
// X-Cubby-Forwarded-By itself.
func TestAFencedNodeMarksOnlyANodesRequest(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.cfg.Hops = signedHops{}
	app, err := New(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.app = app
	c := r.client()
	c.signup("ann", "correct horse battery")
	r.pool.Fence(errors.New("lease lost"))
	for _, tc := range []struct {
		name    string
		headers []string
		mark    string
	}{
		{"a client", []string{cluster.ForwardedByHeader, "b"}, ""},
		{"a node", []string{cluster.ForwardedByHeader, "b", "X-Test-Signed", "1"}, "1"},
	} {
		rec := c.do("GET", "/api/v1/notes", nil, tc.headers...)
		wantError(t, rec, http.StatusServiceUnavailable, "tenant_unavailable")
		if got := rec.Header().Get(cluster.NotServingHeader); got != tc.mark {
			t.Errorf("%s's request: %s %q, want %q", tc.name, cluster.NotServingHeader, got, tc.mark)
		}
	}
}
