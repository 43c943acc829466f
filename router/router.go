// Package router is cubby's HTTP side: the JSON API under /api/v1, the HTML
// app, health checks, and the middleware around them.
//
// routes.go lists every route; middleware.go holds what runs around them;
// errors.go gives every error its code (classify) and every code its HTTP
// status (httpStatus), each in one place; metrics.go is the Prometheus
// registry that the --metrics-addr listener serves (never the App);
// requestid.go gives every request the id its log lines carry; buffer.go
// holds a signed-in user's answer until their handle is released; conns.go
// caps the connections a server holds open.
//
// Each action is one flow, written once (signin.go, notes_flow.go,
// account_flow.go): it takes a function that reads its input, calls auth or
// notes, and returns the result or an error, parsing and rendering nothing.
// Its two handlers, api_*.go for JSON and html_*.go for pages, differ only
// in the reader they pass (json.go decodes bodies, forms.go reads forms)
// and in how they render the result.
// A signed-in user's handler gets that user's *tenant.Store from the request
// context, put there by the requireUser middleware, and no other database.
package router

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/notes"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/web"
)

// MaxBodyBytes bounds every request body; larger ones get 413 too_large.
const MaxBodyBytes = 2 << 20

// DefaultWriteTimeout is Config.WriteTimeout's default: plenty for any
// answer but an export, which gets more.
const DefaultWriteTimeout = 30 * time.Second

// Config is what the HTTP side works with. Pool, Accounts, SessionStore and
// DeviceKey are required.
type Config struct {
	Pool         *tenant.Pool
	Accounts     *auth.Accounts
	SessionStore auth.SessionBackend
	// DeviceKey signs device cookies (auth.LoadDeviceKey).
	DeviceKey []byte
	// SecureCookies marks the session and device cookies Secure (HTTPS only).
	SecureCookies bool
	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// working out a client's address (see clientAddr); none by default.
	TrustedProxies []netip.Prefix
	// Notebook runs the notes queries; its zero value uses the wall clock.
	Notebook notes.Notebook
	// Logger receives the request log and failures (default slog.Default()).
	// Records logged during a request carry its request_id (see LogHandler).
	Logger *slog.Logger
	// Metrics, if set, counts requests and logins and watches Pool. The App
	// never serves it: /metrics is public knowledge of who uses the server
	// and how, so Metrics.Handler belongs on a listener of its own
	// (--metrics-addr), and GET /metrics here is 404 like any unknown path.
	Metrics *Metrics
	// Forwarder, in cluster mode, passes a request for a tenant another
	// node owns to that node (see forward.go); nil on a single node.
	Forwarder Forwarder
	// Hops, in cluster mode, vouches for the client address of a request
	// another node forwarded (see hops.go); nil on a single node.
	Hops Hops
	// WriteTimeout bounds how long writing one answer to the network may
	// take, from its first byte (default 30s; an export gets more, in
	// proportion to its size). A client that stops reading is cut off then.
	WriteTimeout time.Duration
}

// App is the whole HTTP side of cubby, ready to serve.
type App struct {
	pool     *tenant.Pool
	accounts *auth.Accounts
	sessions *auth.Sessions
	devices  *auth.Devices
	// trustedProxies are Config.TrustedProxies.
	trustedProxies []netip.Prefix
	notebook       notes.Notebook
	pages          *web.Pages
	log            *slog.Logger
	metrics        *Metrics // nil records nothing
	// writeTimeout is Config.WriteTimeout.
	writeTimeout time.Duration
	forwarder    Forwarder // nil on a single node
	hops         Hops      // nil on a single node
	handler      http.Handler
	draining     atomic.Bool
	// buffers recycles the bufferedResponses of signed-in answers.
	buffers sync.Pool
}

// New builds the App: it parses the templates, wires routes and middleware,
// and has cfg.Metrics watch cfg.Pool.
func New(cfg Config) (*App, error) {
	if cfg.Pool == nil || cfg.Accounts == nil || cfg.SessionStore == nil || cfg.DeviceKey == nil {
		return nil, fmt.Errorf("router: Pool, Accounts, SessionStore and DeviceKey are required")
	}
	devices, err := auth.NewDevices(auth.DevicesConfig{Key: cfg.DeviceKey, Secure: cfg.SecureCookies})
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	pages, err := web.Parse()
	if err != nil {
		return nil, err
	}
	a := &App{
		pool:           cfg.Pool,
		accounts:       cfg.Accounts,
		devices:        devices,
		trustedProxies: cfg.TrustedProxies,
		notebook:       cfg.Notebook,
		pages:          pages,
		log:            cfg.Logger,
		metrics:        cfg.Metrics,
		writeTimeout:   cfg.WriteTimeout,
		forwarder:      cfg.Forwarder,
		hops:           cfg.Hops,
	}
	if a.writeTimeout <= 0 {
		a.writeTimeout = DefaultWriteTimeout
	}
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
