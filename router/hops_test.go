package router

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/cubbyhq/cubby/auth"
)

// fakeHops vouches for the address in X-Test-Vouched, as a cluster.Hop
// vouches for a request whose signature checks out.
type fakeHops struct{}

func (fakeHops) Client(r *http.Request) (string, bool) {
	v := r.Header.Get("X-Test-Vouched")
	return v, v != ""
}

func TestClientOfTakesTheAddressAForwardingNodeVouchesFor(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	req := func(peer, xff, vouched string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		if vouched != "" {
			r.Header.Set("X-Test-Vouched", vouched)
		}
		return r
	}
	cases := []struct {
		name string
		hops Hops
		r    *http.Request
		want string
	}{
		{"single node: the peer", nil, req("127.0.0.1:5000", "203.0.113.1", "203.0.113.2"), "127.0.0.1"},
		{"single node: a trusted proxy's X-Forwarded-For", nil, req("10.0.0.1:5000", "203.0.113.1", ""), "203.0.113.1"},
		{"cluster: vouched for", fakeHops{}, req("127.0.0.1:5000", "198.51.100.1", "203.0.113.2"), "203.0.113.2"},
		{"cluster: not vouched for, the peer", fakeHops{}, req("127.0.0.1:5000", "198.51.100.1", ""), "127.0.0.1"},
		{"cluster: not vouched for, a trusted proxy", fakeHops{}, req("10.0.0.1:5000", "198.51.100.1", ""), "198.51.100.1"},
	}
	for _, c := range cases {
		a := &App{trustedProxies: trusted, hops: c.hops}
		if got := a.clientOf(c.r); got != c.want {
			t.Errorf("%s: client %q, want %q", c.name, got, c.want)
		}
	}
}

// Sign-in counts that cannot be reached (a cluster node cut off from
// etcd) answer 503 busy with Retry-After, not 500.
func TestUnreachableSignInCountsAreBusy(t *testing.T) {
	f := classify(fmt.Errorf("%w: count the attempt: %w", auth.ErrUnavailable, fmt.Errorf("etcd: deadline")))
	if f.code != codeBusy || httpStatus(f.code) != http.StatusServiceUnavailable || f.retryAfter <= 0 {
		t.Fatalf("classified as %+v (%d)", f, httpStatus(f.code))
	}
}
