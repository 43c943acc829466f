// Package router is cubby's HTTP side: the JSON API under /api/v1, the HTML
// app, health checks, and the middleware around them.
//
// routes.go lists every route; middleware.go holds what runs around them;
// errors.go turns every error into a status and an error code in one place;
// metrics.go is the Prometheus registry that /metrics serves; requestid.go
// gives every request the id its log lines carry.
// Handlers parse the request, call auth or notes, and render the answer.
// A signed-in user's handler gets that user's *tenant.Store from the request
// context, put there by the requireUser middleware, and no other database.
package router

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"cubby/auth"
	"cubby/notes"
	"cubby/tenant"
	"cubby/web"
)

// MaxBodyBytes bounds every request body; larger ones get 413 too_large.
const MaxBodyBytes = 2 << 20

// Config is what the HTTP side works with. Pool, Accounts and SessionStore
// are required.
type Config struct {
	Pool         *tenant.Pool
	Accounts     *auth.Accounts
	SessionStore *auth.SessionStore
	// SecureCookies marks the session cookie Secure (HTTPS only).
	SecureCookies bool
	// Notebook runs the notes queries; its zero value uses the wall clock.
	Notebook notes.Notebook
	// Logger receives the request log and failures (default slog.Default()).
	// Records logged during a request carry its request_id (see LogHandler).
	Logger *slog.Logger
	// Metrics, if set, counts requests and logins, watches Pool, and is
	// served at GET /metrics unless MetricsElsewhere is set.
	Metrics *Metrics
	// MetricsElsewhere leaves GET /metrics out of the routes (404), for a
	// server that serves Metrics.Handler on a listener of its own.
	MetricsElsewhere bool
}

// App is the whole HTTP side of cubby, ready to serve.
type App struct {
	pool     *tenant.Pool
	accounts *auth.Accounts
	sessions *auth.Sessions
	notebook notes.Notebook
	pages    *web.Pages
	log      *slog.Logger
	metrics  *Metrics // nil records nothing
	// serveMetrics routes GET /metrics to metrics.
	serveMetrics bool
	handler      http.Handler
	draining     atomic.Bool
	// deleteTimeout bounds an account deletion's wait for the account's
	// other requests to let go of its file (accountDeleteTimeout).
	deleteTimeout time.Duration
}

// New builds the App: it parses the templates, wires routes and middleware,
// and has cfg.Metrics watch cfg.Pool.
func New(cfg Config) (*App, error) {
	if cfg.Pool == nil || cfg.Accounts == nil || cfg.SessionStore == nil {
		return nil, fmt.Errorf("router: Pool, Accounts and SessionStore are required")
	}
	pages, err := web.Parse()
	if err != nil {
		return nil, err
	}
	a := &App{
		pool:         cfg.Pool,
		accounts:     cfg.Accounts,
		notebook:     cfg.Notebook,
		pages:        pages,
		log:          cfg.Logger,
		metrics:      cfg.Metrics,
		serveMetrics: cfg.Metrics != nil && !cfg.MetricsElsewhere,
	}
	a.deleteTimeout = accountDeleteTimeout
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = slog.New(LogHandler(a.log.Handler()))
	if a.metrics != nil {
		if err := a.metrics.watchPool(a.pool); err != nil {
			return nil, fmt.Errorf("router: metrics: %w", err)
		}
	}
	a.sessions = auth.NewSessions(auth.SessionsConfig{
		Store:   cfg.SessionStore,
		Secure:  cfg.SecureCookies,
		OnError: a.fail,
	})
	a.handler = a.middleware(a.routes())
	return a, nil
}

// ServeHTTP answers one request.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.handler.ServeHTTP(w, r)
}

// Drain makes /readyz answer 503, so that a load balancer stops sending
// requests while the server shuts down.
func (a *App) Drain() { a.draining.Store(true) }
