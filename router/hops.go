package router

import (
	"net/http"

	"github.com/cubbyhq/cubby/cluster"
)

// Hops vouches for the client address of a request that another node of
// a cluster forwarded here (cluster.Hop, which checks a signature made
// with a key only the cluster's nodes hold). A request it does not vouch
// for is any client's: its address is worked out by clientAddr, from the
// peer and --trusted-proxies alone.
type Hops interface {
	Client(r *http.Request) (addr string, ok bool)
}

// clientOf is the address of the client that sent r: the one a forwarding
// node vouches for, else clientAddr's.
func (a *App) clientOf(r *http.Request) string {
	if a.hops != nil {
		if addr, ok := a.hops.Client(r); ok {
			return addr
		}
	}
	return clientAddr(r, a.trustedProxies)
}

// fromNode is whether r was forwarded here by another node of the
// cluster: it says so (cluster.ForwardedByHeader) and the App's Hops, if
// it has any, vouch for it. Only a node is told what is meant for nodes
// (cluster.NotServingHeader), never a client that sends the header itself.
func (a *App) fromNode(r *http.Request) bool {
	if !cluster.Forwarded(r) {
		return false
	}
	if a.hops == nil {
		return true
	}
	_, ok := a.hops.Client(r)
	return ok
}
