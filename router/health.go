package router

import (
	"context"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/cubbyhq/cubby/web"
)

// healthz says the process is alive.
func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	plain(w, http.StatusOK, "ok")
}

// readyz says whether the server should get traffic: the routing directory
// (routing.db, or etcd on a cluster node) answers, the server is not
// shutting down and, on a cluster node, it has not lost its lease.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		plain(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if a.pool.Fenced() != nil {
		plain(w, http.StatusServiceUnavailable, "not serving: this node lost its cluster lease")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.pool.Routing().Ping(ctx); err != nil {
		a.log.WarnContext(ctx, "readiness check failed", "err", err)
		plain(w, http.StatusServiceUnavailable, "routing database not answering")
		return
	}
	plain(w, http.StatusOK, "ok")
}

func plain(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h["Content-Type"] = plainContentType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	w.Write([]byte(msg + "\n")) //nolint:errcheck // the client went away
}

// static serves the embedded files under /static/.
func (a *App) static() http.HandlerFunc {
	files := web.Static()
	server := http.FileServerFS(files)
	return func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(param(r, "filepath"), "/")
		if fi, err := fs.Stat(files, name); err != nil || fi.IsDir() {
			a.fail(w, r, errNotFound)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		server.ServeHTTP(w, r2)
	}
}
