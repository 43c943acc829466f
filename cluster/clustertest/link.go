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
//
// The link keeps listening while cut and closes every connection it is
// offered then: closing the listener would free its port, and another
// test running meanwhile could take it before Heal listened there again.
type Link struct {
	// Addr is HOST:PORT to dial instead of the target.
	Addr   string
	target string
	l      net.Listener
	accept sync.WaitGroup // the accept loop
	pipes  sync.WaitGroup // the relays

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
	k.accept.Add(1)
	go k.serve()
	t.Cleanup(k.close)
	return k
}

// Heal opens a cut link again, on the same address: connections made from
// now on are relayed, as when a partition ends.
func (k *Link) Heal(t testing.TB) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cut = false
}

// URL is the etcd:// URL through the link.
func (k *Link) URL() string { return "etcd://" + k.Addr }

// Cut closes every relayed connection, refuses new ones until Heal, and
// waits for the relay goroutines. It is safe to call twice.
func (k *Link) Cut() {
	k.mu.Lock()
	k.cut = true
	for c := range k.conns {
		c.Close()
	}
	k.mu.Unlock()
	k.pipes.Wait()
}

// close cuts the link for good and stops listening.
func (k *Link) close() {
	k.Cut()
	k.l.Close()
	k.accept.Wait()
}

func (k *Link) serve() {
	defer k.accept.Done()
	for {
		in, err := k.l.Accept()
		if err != nil {
			return
		}
		if k.isCut() {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", k.target)
		if err != nil {
			in.Close()
			continue
		}
		if !k.track(in, out) {
			continue
		}
		go k.pipe(in, out)
		go k.pipe(out, in)
	}
}

func (k *Link) isCut() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cut
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
	k.pipes.Add(2)
	return true
}

func (k *Link) pipe(dst, src net.Conn) {
	defer k.pipes.Done()
	io.Copy(dst, src) //nolint:errcheck // either side ending ends the pair
	dst.Close()
	src.Close()
	k.mu.Lock()
	delete(k.conns, dst)
	delete(k.conns, src)
	k.mu.Unlock()
}
