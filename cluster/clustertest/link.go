package clustertest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Link is a TCP relay in front of an address that a test can cut: a node
// that reaches etcd through a Link loses etcd when it is cut, while other
// nodes keep it.
type Link struct {
	// Addr is HOST:PORT to dial instead of the target.
	Addr   string
	target string
	l      net.Listener
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	cut   bool
}

// NewLink relays connections from a new loopback port to target until it
// is cut or the test ends.
func NewLink(t testing.TB, target string) *Link {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for link: %v", err)
	}
	k := &Link{Addr: l.Addr().String(), target: target, l: l, conns: make(map[net.Conn]struct{})}
	k.wg.Add(1)
	go k.accept(l)
	t.Cleanup(k.Cut)
	return k
}

// Heal opens a cut link again, on the same address: connections made from
// now on are relayed, as when a partition ends.
func (k *Link) Heal(t testing.TB) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.cut {
		return
	}
	l, err := net.Listen("tcp", k.Addr)
	if err != nil {
		t.Fatalf("heal link %s: %v", k.Addr, err)
	}
	k.l, k.cut = l, false
	k.wg.Add(1)
	go k.accept(l)
}

// URL is the etcd:// URL through the link.
func (k *Link) URL() string { return "etcd://" + k.Addr }

// Cut closes the listener and every relayed connection, and waits for the
// relay goroutines. It is safe to call twice; Heal opens the link again.
func (k *Link) Cut() {
	k.mu.Lock()
	k.cut = true
	k.l.Close()
	for c := range k.conns {
		c.Close()
	}
	k.mu.Unlock()
	k.wg.Wait()
}

func (k *Link) accept(l net.Listener) {
	defer k.wg.Done()
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", k.target)
		if err != nil {
			in.Close()
			continue
		}
		if !k.track(in, out) {
			return
		}
		k.wg.Add(2)
		go k.pipe(in, out)
		go k.pipe(out, in)
	}
}

// track records a relayed pair, or closes it if the link was cut meanwhile.
func (k *Link) track(in, out net.Conn) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cut {
		in.Close()
		out.Close()
		return false
	}
	k.conns[in], k.conns[out] = struct{}{}, struct{}{}
	return true
}

func (k *Link) pipe(dst, src net.Conn) {
	defer k.wg.Done()
	io.Copy(dst, src) //nolint:errcheck // either side ending ends the pair
	dst.Close()
	src.Close()
	k.mu.Lock()
	delete(k.conns, dst)
	delete(k.conns, src)
	k.mu.Unlock()
}
