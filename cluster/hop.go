package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Headers of a forwarded request's hop (see Hop).
const (
	// ClientHeader carries the client address the forwarding node worked
	// out for the request.
	ClientHeader = "X-Cubby-Client"
	// HopHeader signs ClientHeader and the request line:
	// "v1.<Unix ms>.<base64url HMAC-SHA256>".
	HopHeader = "X-Cubby-Hop"
)

// HopConfig sets up a Hop.
type HopConfig struct {
	// Key is the cluster's forward key (Node.Secret(SecretForwardKey));
	// at least HopKeyLen bytes.
	Key []byte
	// MaxSkew is how far a hop's time may be from this node's clock; 30 s.
	// It bounds how long a signature seen on the wire could be replayed,
	// and how far apart the nodes' clocks may drift.
	MaxSkew time.Duration
	// Now is the clock; time.Now.
	Now func() time.Time
}

// HopKeyLen is the length of the forward key.
const HopKeyLen = 32

// Hop authenticates the step of a request from one node to another, so
// that the node that answers can take the client's address from the node
// that forwarded it, and from nobody else.
//
// The forwarding node knows the client's address (the peer it accepted,
// or what its own --trusted-proxies say); the owner sees only the
// forwarding node as its peer. Trusting X-Forwarded-For from any peer
// whose address is a node's would not do: on one machine every node and
// every local client is 127.0.0.1, behind NAT or a shared host the same
// holds for other addresses, and an advertise URL may name a host by DNS
// or a load balancer. So the forwarding node signs what it vouches for
// with a key only the cluster's nodes hold (a secret in etcd, made once):
// an HMAC over the client address, its own node id, the time, and the
// request's method, Host and request URI. The owner believes ClientHeader
// only when the signature checks out and the time is within MaxSkew of its
// own; a client that sends these headers itself cannot sign them, and a
// node drops any it receives before forwarding.
//
// What a signature does not cover: the body, and replay within MaxSkew by
// someone who can read the traffic between nodes (who could then make a
// request to the same URL count against the client address it names).
// Traffic between nodes belongs on a private network or HTTPS advertise
// URLs.
type Hop struct {
	key     []byte
	maxSkew time.Duration
	now     func() time.Time
}

// NewHop returns a Hop signing and checking with cfg.Key.
func NewHop(cfg HopConfig) (*Hop, error) {
	if len(cfg.Key) < HopKeyLen {
		return nil, fmt.Errorf("cluster: forward key is %d bytes, want at least %d", len(cfg.Key), HopKeyLen)
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Hop{key: cfg.Key, maxSkew: cfg.MaxSkew, now: cfg.Now}, nil
}

// hopVersion begins every HopHeader value.
const hopVersion = "v1"

// sign sets out's ClientHeader to client and signs it. out is complete
// but for these headers: URL, Host and ForwardedByHeader set.
func (h *Hop) sign(out *http.Request, client string) {
	ms := strconv.FormatInt(h.now().UnixMilli(), 10)
	out.Header.Set(ClientHeader, client)
	mac := h.mac(out.Header.Get(ForwardedByHeader), ms, out.Method, out.Host, out.URL.RequestURI(), client)
	out.Header.Set(HopHeader, hopVersion+"."+ms+"."+base64.RawURLEncoding.EncodeToString(mac))
}

// mac is the signature of one hop. The fields are joined with NUL, which
// none of them can hold.
func (h *Hop) mac(from, ms, method, host, uri, client string) []byte {
	m := hmac.New(sha256.New, h.key)
	for _, f := range []string{"cubby hop v1", from, ms, method, host, uri, client} {
		m.Write([]byte(f))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// maxHopHeaderLen bounds the HopHeader values Client looks at.
const maxHopHeaderLen = 128

// Client returns the client address r's forwarding node vouches for, when
// r carries a hop signed with the cluster's key within MaxSkew of now and
// the address is an IP address; otherwise ok is false and r is to be
// treated like any other request. A request without HopHeader costs one
// header lookup.
func (h *Hop) Client(r *http.Request) (addr string, ok bool) {
	v := r.Header[HopHeader]
	if len(v) != 1 || len(v[0]) > maxHopHeaderLen {
		return "", false
	}
	parts := strings.Split(v[0], ".")
	if len(parts) != 3 || parts[0] != hopVersion {
		return "", false
	}
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || strconv.FormatInt(ms, 10) != parts[1] {
		return "", false
	}
	if skew := h.now().Sub(time.UnixMilli(ms)); skew > h.maxSkew || skew < -h.maxSkew {
		return "", false
	}
	clients := r.Header[ClientHeader]
	if len(clients) != 1 {
		return "", false
	}
	// Compared as text: base64 decoding skips CR and LF even when strict,
	// so a decoded comparison would take values this node never signed.
	want := base64.RawURLEncoding.EncodeToString(h.mac(r.Header.Get(ForwardedByHeader), parts[1], r.Method, r.Host, r.RequestURI, clients[0]))
	if !hmac.Equal([]byte(parts[2]), []byte(want)) {
		return "", false
	}
	a, err := netip.ParseAddr(clients[0])
	if err != nil {
		return "", false
	}
	return a.Unmap().WithZone("").String(), true
}

// clientKey is the context key of the client address a request is
// forwarded on behalf of.
type clientKey struct{}

// WithClient returns ctx carrying addr as the address of the client whose
// request is being forwarded, for the Forwarder to vouch for.
func WithClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// clientOf is the client address r is forwarded on behalf of: the one
// WithClient put in its context, else its peer's address.
func clientOf(r *http.Request) string {
	if addr, ok := r.Context().Value(clientKey{}).(string); ok && addr != "" {
		return addr
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
