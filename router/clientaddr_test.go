package router

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.0/24,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string // X-Forwarded-For headers, in order
		want    string
	}{
		{"no proxies: the peer", nil, "203.0.113.1:5000", nil, "203.0.113.1"},
		{"no proxies: the header is ignored", nil, "203.0.113.1:5000", []string{"198.51.100.1"}, "203.0.113.1"},
		{"untrusted peer: the header is ignored", trusted, "203.0.113.1:5000", []string{"198.51.100.1"}, "203.0.113.1"},
		{"trusted peer, no header: the peer", trusted, "10.0.0.1:443", nil, "10.0.0.1"},
		{"trusted peer: the entry it appended", trusted, "10.0.0.1:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed entries left of the client are not read", trusted, "10.0.0.1:443",
			[]string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, "198.51.100.1"},
		{"a chain of trusted proxies is skipped", trusted, "10.0.0.1:443",
			[]string{"6.6.6.6, 198.51.100.1, 192.168.1.5, 10.9.9.9"}, "198.51.100.1"},
		{"several headers read as one list", trusted, "10.0.0.1:443",
			[]string{"6.6.6.6, 198.51.100.1", "10.2.2.2"}, "198.51.100.1"},
		{"spaces and empty entries", trusted, "10.0.0.1:443", []string{"  ,198.51.100.1 ,, 10.2.2.2,  "}, "198.51.100.1"},
		{"all trusted: the left-most", trusted, "10.0.0.1:443", []string{"192.168.1.9, 10.2.2.2"}, "192.168.1.9"},
		{"garbage stops the walk at the hop that sent it", trusted, "10.0.0.1:443",
			[]string{"198.51.100.1, garbage, 10.2.2.2"}, "10.2.2.2"},
		{"garbage right at the peer: the peer", trusted, "10.0.0.1:443", []string{"6.6.6.6, unknown"}, "10.0.0.1"},
		{"an obfuscated name is garbage", trusted, "10.0.0.1:443", []string{"_hidden"}, "10.0.0.1"},
		{"an entry with a port", trusted, "10.0.0.1:443", []string{"198.51.100.1:6000"}, "198.51.100.1"},
		{"IPv6 with a port", trusted, "[fd00::1]:443", []string{"[2001:db8::7]:6000"}, "2001:db8::7"},
		{"IPv6 canonical form", trusted, "[fd00::1]:443", []string{"2001:DB8:0:0::7"}, "2001:db8::7"},
		{"IPv4-mapped IPv6 is IPv4", trusted, "[::ffff:10.0.0.1]:443", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"a zone is dropped", nil, "[fe80::1%eth0]:443", nil, "fe80::1"},
		{"untrusted IPv6 peer", nil, "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"untrusted IPv6 peer in canonical form", nil, "[2001:DB8:0::1]:443", nil, "2001:db8::1"},
		{"untrusted IPv4-mapped peer is IPv4", nil, "[::ffff:203.0.113.1]:443", nil, "203.0.113.1"},
		{"untrusted IPv4 peer with leading zeros is refused", nil, "203.0.113.01:443", nil, "203.0.113.01:443"},
		{"an unparsable peer is kept as it is", trusted, "pipe", []string{"198.51.100.1"}, "pipe"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tt.peer
		for _, v := range tt.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := clientAddr(req, tt.trusted); got != tt.want {
			t.Errorf("%s: clientAddr = %q; want %q", tt.name, got, tt.want)
		}
	}
}

// A peer's address is read on every request: when RemoteAddr spells it
// canonically, as net/http's does, taking it allocates nothing.
func TestClientAddrOfCanonicalPeerAllocatesNothing(t *testing.T) {
	for _, peer := range []string{"203.0.113.1:5000", "[2001:db8::1]:443"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = peer
		if n := testing.AllocsPerRun(100, func() { clientAddr(req, nil) }); n != 0 {
			t.Errorf("clientAddr of %s: %v allocations; want 0", peer, n)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8 ,, 2001:db8::/32 ,192.168.1.7/24, ::ffff:172.16.0.0/108")
	if err != nil || len(got) != 4 || got[2].String() != "192.168.1.0/24" || got[3].String() != "172.16.0.0/12" {
		t.Fatalf("ParseTrustedProxies = %v, %v", got, err)
	}
	if got, err := ParseTrustedProxies(""); err != nil || len(got) != 0 {
		t.Fatalf("empty = %v, %v; want none", got, err)
	}
	for _, bad := range []string{"10.0.0.1", "10.0.0.0/33", "nope", "10.0.0.0/8,x"} {
		if _, err := ParseTrustedProxies(bad); err == nil || !strings.Contains(err.Error(), "CIDR") {
			t.Errorf("ParseTrustedProxies(%q) = %v; want a CIDR error", bad, err)
		}
	}
}

// FuzzClientAddr: whatever X-Forwarded-For holds, the client address is a
// canonical IP address, never an unparsable entry, and is the peer's
// whenever the peer is not trusted.
func FuzzClientAddr(f *testing.F) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8,fd00::/8")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("10.0.0.1:443", "198.51.100.1, 10.2.2.2")
	f.Add("10.0.0.1:443", "garbage,,[::1]:80, ::ffff:10.0.0.9")
	f.Add("203.0.113.1:1", "10.0.0.5")
	f.Add("[fd00::1]:1", "fe80::1%eth0")
	f.Fuzz(func(t *testing.T, peer, xff string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = peer
		req.Header.Set("X-Forwarded-For", xff)
		got := clientAddr(req, trusted)
		p, ok := parseHostAddr(peer)
		if !ok {
			if got != peer {
				t.Fatalf("unparsable peer %q gave %q", peer, got)
			}
			return
		}
		addr, err := netip.ParseAddr(got)
		if err != nil || addr.String() != got || addr.Zone() != "" || addr.Is4In6() {
			t.Fatalf("clientAddr(%q, %q) = %q; not a canonical address", peer, xff, got)
		}
		if !isTrusted(p, trusted) && got != p.String() {
			t.Fatalf("untrusted peer %q: got %q from X-Forwarded-For %q", peer, got, xff)
		}
	})
}
