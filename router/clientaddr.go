package router

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses a comma-separated list of CIDR ranges (spaces
// around entries allowed; "" is none), the value of --trusted-proxies. A
// bare address is not accepted: write 10.0.0.1/32. An IPv4-mapped IPv6
// range (::ffff:10.0.0.0/104) is taken as the IPv4 range it maps, since
// client addresses are compared in their IPv4 form.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, field := range strings.Split(s, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		p, err := netip.ParsePrefix(field)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not a CIDR range such as 10.0.0.0/8 or fd00::/8", field)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// clientAddr is the address of the client that sent r, the key of the
// login throttle and the signup limit and the request log's client.
//
// It is the peer's address (RemoteAddr) unless the peer is a trusted proxy.
// Then X-Forwarded-For (every such header, in order, each a comma list) is
// read from the right, where the nearest proxy appended its own peer: each
// trusted address is a proxy that passed the request on, and the first
// address that is not trusted is the client. Entries to its left are
// whatever the client chose to send, and are never read. If every entry is
// trusted, the left-most one is the client. An entry that is not an IP
// address (garbage, "unknown", an obfuscated name) ends the walk: the
// client address is then the last trusted hop reached, the proxy that
// passed the unreadable entry on, so garbage never becomes a key and never
// lets a client choose its own address. Addresses are given in canonical
// form (an IPv4-mapped IPv6 address as IPv4, without a zone); an entry
// may carry a port, which is dropped.
//
// A peer that is not an IP address (only possible with a custom listener)
// is returned as it is.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseHostAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return addrString(peer, r.RemoteAddr)
	}
	hop := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		list := values[i]
		for list != "" {
			var entry string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				list, entry = list[:j], list[j+1:]
			} else {
				list, entry = "", list
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue // "a,,b" or a trailing comma: no hop at all
			}
			addr, ok := parseHostAddr(entry)
			if !ok {
				return hop.String()
			}
			hop = addr
			if !isTrusted(hop, trusted) {
				return hop.String()
			}
		}
	}
	return hop.String()
}

// addrString returns addr.String(), as a piece of s, the text addr was
// parsed from, when s spells it already: a peer's RemoteAddr
// ("192.0.2.1:1234", "[2001:db8::1]:1234") does, and the address of every
// request is taken, so this saves an allocation on each.
func addrString(addr netip.Addr, s string) string {
	var buf [64]byte
	b := addr.AppendTo(buf[:0])
	if len(s) > 0 && s[0] == '[' {
		s = s[1:]
	}
	if len(s) >= len(b) && s[:len(b)] == string(b) {
		return s[:len(b)]
	}
	return string(b)
}

// parseHostAddr parses an IP address, with or without a port ("1.2.3.4",
// "1.2.3.4:80", "::1", "[::1]:80"), in canonical form.
func parseHostAddr(s string) (netip.Addr, bool) {
	// A peer's RemoteAddr always has a port: try that first, since a failed
	// ParseAddr allocates its error on every request. No string parses both
	// as an address and as an address with a port.
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		host, _, serr := net.SplitHostPort(s)
		if serr != nil {
			return netip.Addr{}, false
		}
		if addr, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}, false
		}
	}
	return addr.Unmap().WithZone(""), true
}

// isTrusted reports whether addr lies in one of the trusted ranges.
func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
