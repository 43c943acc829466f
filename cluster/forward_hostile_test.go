package cluster

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// What a hostile client can do to a forwarded request (see also
// hop_test.go and forward_test.go).

// rawExchange sends raw, a request as bytes, to srv and returns the
// answer's body.
func rawExchange(t *testing.T, srv *httptest.Server, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A Host that net/http's client would not send as it is (none at all, as
// HTTP/1.0 allows; an IPv6 zone; a name that is not a valid header, which
// an absolute request target can carry) still gets a hop the owner
// believes: what is signed is what goes on the wire. The owner used to
// see a signature over the client's Host on a request carrying another,
// so it counted that client's failed logins against the forwarding
// node's address, a fresh throttle budget per node.
func TestAHopIsBelievedWhateverHostTheClientSent(t *testing.T) {
	h := testHop(t, 1, nil)
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr, _ := h.Client(r)
		io.WriteString(w, addr)
	}))
	defer owner.Close()
	a := front(t, quietForwarder(t, ForwarderConfig{Hop: h}), owner.URL)
	for _, tc := range []struct{ name, raw string }{
		{"a Host", "GET /api/v1/me HTTP/1.1\r\nHost: cubby.example\r\nConnection: close\r\n\r\n"},
		{"HTTP/1.0 without Host", "GET /api/v1/me HTTP/1.0\r\n\r\n"},
		{"an IPv6 zone", "GET /api/v1/me HTTP/1.1\r\nHost: [fe80::1%25eth0]:80\r\nConnection: close\r\n\r\n"},
		{"an absolute target with another host", "GET http://other.example/api/v1/me HTTP/1.1\r\nHost: cubby.example\r\nConnection: close\r\n\r\n"},
		{"an absolute target whose host is no header", "GET http://a<b/api/v1/me HTTP/1.1\r\nHost: cubby.example\r\nConnection: close\r\n\r\n"},
		{"an absolute target with a non-ASCII host", "GET http://caf\xc3\xa9.example/api/v1/me HTTP/1.1\r\nHost: cubby.example\r\nConnection: close\r\n\r\n"},
		{"an absolute target with an escaped host", "GET http://caf%C3%A9.example/api/v1/me HTTP/1.1\r\nHost: cubby.example\r\nConnection: close\r\n\r\n"},
	} {
		if got := rawExchange(t, a, tc.raw); got != "127.0.0.1" {
			t.Errorf("%s: the owner believed %q, want 127.0.0.1", tc.name, got)
		}
	}
	// An owner advertised with a zone is sent its address without it, as
	// net/http's client would send it.
	zoned, _ := url.Parse("http://[fe80::1%25eth0]:8080")
	if got := wireHost("", zoned); got != "[fe80::1]:8080" {
		t.Errorf("no Host to an owner advertised with a zone: %q, want [fe80::1]:8080", got)
	}
}
