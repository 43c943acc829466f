package router

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/web"
)

// The operator page: a read-only view of the server for whoever runs it,
// served at / of the --metrics-addr listener beside /metrics, and never
// by the App (it names every user). It renders server-side, with the
// app's stylesheet and no script.

// DefaultOperatorPageSize is how many tenants one operator page lists.
const DefaultOperatorPageSize = 100

// operatorFailedShown bounds the failed tenants listed above the rest.
const operatorFailedShown = 100

// maxOperatorCursor bounds the ?after= cursor: longer than any username.
const maxOperatorCursor = 256

// ReplicationLag is what the operator page asks of replication, the hook
// the replication package fills in (router does not import it). Lag
// returns how far behind its replica each of ids is, by id (a tenant
// without one, because its file is not open, is left out), and a line
// about replication as a whole for the page's overview.
type ReplicationLag interface {
	Lag(ctx context.Context, ids []string) (summary string, lag map[string]time.Duration, err error)
}

// OperatorConfig is what the operator page reads. Pool is required.
type OperatorConfig struct {
	Pool *tenant.Pool
	// Replication, if set, adds replication to the page; nil says it is off.
	Replication ReplicationLag
	// Node, on a node of a cluster, adds the cluster's nodes, their lease
	// and their tenants to the page; the tenants are then listed from the
	// pool's Routing (etcd) with their owner.
	Node *cluster.Node
	// PageSize is tenants per page (default DefaultOperatorPageSize).
	PageSize int
	// Logger receives failures to build the page (default slog.Default()).
	Logger *slog.Logger
}

// Operator serves the operator page at / and the stylesheet it uses under
// /static/; anything else is 404.
type Operator struct {
	cfg   OperatorConfig
	pages *web.Pages
	mux   *http.ServeMux
}

// NewOperator builds the operator page's handler.
func NewOperator(cfg OperatorConfig) (*Operator, error) {
	if cfg.Pool == nil {
		return nil, errors.New("router: operator: Pool is required")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultOperatorPageSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pages, err := web.Parse()
	if err != nil {
		return nil, err
	}
	o := &Operator{cfg: cfg, pages: pages, mux: http.NewServeMux()}
	o.mux.HandleFunc("GET /{$}", o.page)
	o.mux.Handle("GET /static/", http.StripPrefix("/static/", o.static()))
	return o, nil
}

// ServeHTTP answers a request of the operator listener.
func (o *Operator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	o.mux.ServeHTTP(w, r)
}

// static serves web's static files (the stylesheet).
func (o *Operator) static() http.Handler {
	files := web.Static()
	server := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fi, err := fs.Stat(files, r.URL.Path); err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		server.ServeHTTP(w, r)
	})
}

// page renders the operator page; ?after=NAME lists the tenants after NAME.
func (o *Operator) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	q, err := url.ParseQuery(r.URL.RawQuery)
	after := q.Get("after")
	if err != nil || len(q["after"]) > 1 || len(after) > maxOperatorCursor {
		o.problem(w, r, http.StatusBadRequest, "after must be given once, as a %-escaped username")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	view, err := o.view(ctx, after)
	if err != nil {
		o.cfg.Logger.ErrorContext(ctx, "operator page", "err", err)
		o.problem(w, r, http.StatusInternalServerError, "the page could not be built; the server's log says why")
		return
	}
	if err := o.pages.Render(w, http.StatusOK, web.PageOperator, view); err != nil {
		o.cfg.Logger.ErrorContext(ctx, "render operator page", "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
	}
}

// problem answers with the error page.
func (o *Operator) problem(w http.ResponseWriter, r *http.Request, status int, msg string) {
	err := o.pages.Render(w, status, web.PageError, web.Problem{
		Frame: web.Frame{Title: http.StatusText(status), Operator: true}, Status: status, Message: msg,
	})
	if err != nil {
		o.cfg.Logger.ErrorContext(r.Context(), "render operator error page", "err", err)
		http.Error(w, msg, status)
	}
}
