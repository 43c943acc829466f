package router

import (
	"net/http"
	"strings"

	"github.com/cubbyhq/cubby/cluster"
)

// fenceGate answers at once, with 503 tenant_unavailable, every request
// but the health checks and static files while the pool is fenced (a
// cluster node that lost its lease, until it rejoins). Without it a
// request would first wait on the session store, which on such a node
// may mean waiting for an etcd it cannot reach, for nothing: its tenant
// could not be served anyway.
func (a *App) fenceGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.pool.Fenced() == nil || alwaysServed(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		// A node that forwarded the request here asks etcd who serves the
		// tenant instead (cluster.Forwarder), which never passes the mark on.
		if a.fromNode(r) {
			w.Header().Set(cluster.NotServingHeader, "1")
		}
		a.fail(w, r, &failure{code: codeTenantUnavailable, retryAfter: forwardRetryAfter,
			message: "this server is not serving right now; try again in a moment"})
	})
}

// alwaysServed is whether a path is answered even by a fenced node.
func alwaysServed(path string) bool {
	return path == "/healthz" || path == "/readyz" || strings.HasPrefix(path, "/static/")
}
