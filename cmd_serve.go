package main

// cubby serve: the web app and the JSON API over one data directory.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/router"
	"github.com/cubbyhq/cubby/tenant"
)

// serveOptions are the flags of serve.
type serveOptions struct {
	addr, data                       string
	maxOpen                          int
	memoMiB                          int           // 0: no memos
	idleCheckpoint                   time.Duration // 0: never
	secureCookies, durable, noSignup bool
	signupLimit                      int    // accounts per client address per hour; 0: none
	trustedProxies                   string // CIDR list; parsed into proxies
	proxies                          []netip.Prefix
	metricsAddr                      string // "": no /metrics at all
	logFormat                        string // text or json
	replicateTo                      string // s3://… URL; "": no replication
	cluster                          clusterOptions
	clusterCfg                       *datadir.Cluster    // from cluster; nil: one node
	throttle                         auth.ThrottleConfig // no flag: the defaults, lowered by tests
}

// defaultSignupLimit is --signup-limit's default.
const defaultSignupLimit = 10

func defineServe(fs *flag.FlagSet, _, stderr io.Writer) runFunc {
	var o serveOptions
	fs.StringVar(&o.addr, "addr", envOr("CUBBY_ADDR", "127.0.0.1:8080"), "address to listen on (env CUBBY_ADDR)")
	dataFlag(fs, &o.data)
	fs.IntVar(&o.maxOpen, "max-open", 512, "most tenant files held open at once")
	fs.IntVar(&o.memoMiB, "memo-mib", tenant.DefaultMemoBytes>>20,
		"MiB of memory for notes read by id, kept for open tenant files and closed ones so rereads open no file (0: none)")
	fs.DurationVar(&o.idleCheckpoint, "idle-checkpoint", time.Second,
		"when the pool is nearly full, checkpoint the WAL of handles unused this long, so evicting them is cheap (0: never)")
	fs.BoolVar(&o.secureCookies, "secure-cookies", false, "send the session cookie over HTTPS only")
	fs.BoolVar(&o.durable, "durable", false, "wait for the disk on every commit (synchronous=FULL)")
	fs.BoolVar(&o.noSignup, "no-signup", false, "refuse new accounts (403 signup_closed)")
	signupLimit, envErr := envInt("CUBBY_SIGNUP_LIMIT", defaultSignupLimit)
	fs.IntVar(&o.signupLimit, "signup-limit", signupLimit,
		"accounts one client address may make per hour; 0 for no limit (env CUBBY_SIGNUP_LIMIT)")
	fs.StringVar(&o.trustedProxies, "trusted-proxies", envOr("CUBBY_TRUSTED_PROXIES", ""),
		"comma-separated CIDR ranges of reverse proxies whose X-Forwarded-For gives the client address (env CUBBY_TRUSTED_PROXIES)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "",
		"serve /metrics on this address (never on --addr, which is public); empty: no /metrics")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	replicateFlag(fs, &o.replicateTo)
	clusterFlags(fs, &o.cluster)
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return &usageError{fmt.Sprintf("unexpected argument %q", args[0])}
		}
		if o.maxOpen < 1 {
			return &usageError{"--max-open must be at least 1"}
		}
		if o.memoMiB < 0 || o.memoMiB > 1<<20 {
			return &usageError{"--memo-mib must be 0 (none) to 1048576"}
		}
		if o.idleCheckpoint < 0 {
			return &usageError{"--idle-checkpoint must be 0 (never) or more"}
		}
		if err := o.checkAuthFlags(envErr); err != nil {
			return err
		}
		if _, _, err := checkAddr("--addr", o.addr, true); err != nil {
			return err
		}
		if o.metricsAddr != "" {
			if _, _, err := checkAddr("--metrics-addr", o.metricsAddr, true); err != nil {
				return err
			}
		}
		if o.metricsAddr != "" && o.metricsAddr == o.addr {
			return &usageError{"--metrics-addr must differ from --addr"}
		}
		var err error
		if o.clusterCfg, err = o.cluster.config(o.replicateTo); err != nil {
			return err
		}
		lw := newLogWriter(stderr) // batches the request log's writes
		defer lw.Close()
		log, err := newLogger(lw, o.logFormat)
		if err != nil {
			return err
		}
		return serve(ctx, o, log)
	}
}

// idleCheckpointConfig is tenant.Config.IdleCheckpoint for
// --idle-checkpoint, where 0 means never (the Config's zero is its default).
func idleCheckpointConfig(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// checkAuthFlags checks --signup-limit (and envErr, a malformed
// CUBBY_SIGNUP_LIMIT) and parses --trusted-proxies into o.proxies.
func (o *serveOptions) checkAuthFlags(envErr error) error {
	if envErr != nil {
		return envErr
	}
	if o.signupLimit < 0 {
		return &usageError{"--signup-limit must be 0 (no limit) or more"}
	}
	proxies, err := router.ParseTrustedProxies(o.trustedProxies)
	if err != nil {
		return &usageError{"--trusted-proxies: " + err.Error()}
	}
	o.proxies = proxies
	return nil
}

// newLogger returns the server's logger, writing text or JSON lines to w.
// Lines logged during a request carry its request_id, whichever package
// logs them.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	var h slog.Handler
	switch format {
	case "text":
		h = router.NewTextLogHandler(w) // slog's text handler, with a short way in for the request log
	case "json":
		h = slog.NewJSONHandler(w, nil)
	default:
		return nil, &usageError{fmt.Sprintf("--log-format must be text or json, not %q", format)}
	}
	return slog.New(router.LogHandler(h)), nil
}

// serve runs the server until ctx ends, then drains requests and closes
// everything it opened, reporting what failed to close. What may refuse to
// start (the descriptor limit, the addresses) is checked before the data
// directory is touched, and a refusal after that (the lock, a damaged
// routing.db) leaves it as it was.
func serve(ctx context.Context, o serveOptions, log *slog.Logger) error {
	if err := tenant.CheckFileLimit(o.maxOpen); err != nil {
		return maxOpenError(err)
	}
	addrs := []string{o.addr}
	if o.metricsAddr != "" {
		addrs = append(addrs, o.metricsAddr)
	}
	lns, err := listen(addrs)
	if err != nil {
		return err
	}
	return serveOn(ctx, o, lns, log)
}

// serveOn is serve on listeners already made: lns[0] for the app and
// lns[1], if o asks for metrics, for /metrics. It closes them.
func serveOn(ctx context.Context, o serveOptions, lns []net.Listener, log *slog.Logger) error {
	app, metrics, d, done, err := openApp(ctx, o, log)
	if err != nil {
		closeAll(lns)
		return err
	}
	defer done()
	var ops http.Handler
	if o.metricsAddr != "" {
		// Replication, once it lands, gives the page its lag here
		// (router.OperatorConfig.Replication).
		op, err := router.NewOperator(router.OperatorConfig{Pool: d.Pool(), Node: d.Node(), Logger: log})
		if err != nil {
			closeAll(lns)
			return errors.Join(err, d.Close())
		}
		ops = opsHandler(metrics.Handler(), op)
	}
	// A cluster node whose id another process took while it was cut off,
	// or a single server whose replica prefix another server took over
	// (its writer lease), can never serve again: it exits.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.Gone():
			cancel()
		case <-ctx.Done():
		}
	}()
	err = listenAndServe(ctx, lns, o.maxOpen, app, ops, log)
	return errors.Join(err, d.GoneErr(), d.Close())
}

// opsHandler serves the --metrics-addr listener: /metrics and the
// operator page at /, neither of which the public listener has.
func opsHandler(metrics, operator http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/", operator)
	return mux
}

// openApp makes (if missing), locks and opens the data directory, cleans
// up after a crash, and builds the App over it; the caller closes d. If it
// fails, the data directory is left as it found it.
func openApp(ctx context.Context, o serveOptions, log *slog.Logger) (
	_ *router.App, _ *router.Metrics, _ *datadir.DataDir, done func(), err error,
) {
	ms, err := migrations()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	metrics := router.NewMetrics(log)
	d, err := datadir.Open(ctx, o.data, datadir.Options{
		Migrations: ms, Create: true, Recover: true, Logger: log,
		Pool: tenant.Config{MaxOpen: o.maxOpen, Durable: o.durable, OnOpen: metrics.ObserveOpen,
			IdleCheckpoint: idleCheckpointConfig(o.idleCheckpoint), MemoBytes: memoConfig(o.memoMiB)},
		SignupClosed: o.noSignup, SignupLimit: o.signupLimit, Throttle: o.throttle,
		Replicate: replica.Config{URL: o.replicateTo}, Cluster: o.clusterCfg,
	})
	if err != nil {
		return nil, nil, nil, nil, maxOpenError(err)
	}
	defer func() {
		if err != nil {
			d.Done(&err)
		}
	}()
	if r := d.Replicator(); r != nil {
		if err := metrics.Register(r.Collector()); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	rc := router.Config{
		Pool: d.Pool(), Accounts: d.Accounts(), SessionStore: d.SessionBackend(), DeviceKey: d.DeviceKey(),
		SecureCookies: o.secureCookies, TrustedProxies: o.proxies, Logger: log, Metrics: metrics,
	}
	if d.Node() != nil {
		app, done, err := clusterApp(d, log, &rc)
		return app, metrics, d, done, err
	}
	app, err := router.New(rc)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return app, metrics, d, func() {}, nil
}

// memoConfig is tenant.Config.MemoBytes for --memo-mib (0: none).
func memoConfig(mib int) int64 {
	if mib == 0 {
		return -1
	}
	return int64(mib) << 20
}

// maxOpenError names --max-open in a refusal for want of file descriptors,
// which tenant reports in its own terms.
func maxOpenError(err error) error {
	var fl *tenant.FileLimitError
	if !errors.As(err, &fl) {
		return err
	}
	return fmt.Errorf("--max-open %d needs about %d file descriptors but the limit is %d (hard %d); "+
		"lower --max-open to %d or raise the limit (ulimit -n)", fl.Handles, fl.Need, fl.Soft, fl.Hard, fl.Fit)
}

// listenAndServe serves app on lns[0], and ops (metrics and the operator
// page) on lns[1] when there is one, until ctx ends or a server fails; then it marks the app not ready,
// stops taking requests and waits for those in flight. Connections to the
// app are capped at what the descriptor limit leaves beside maxOpen pool
// handles: they draw on the descriptors the pool needs too, and idle ones
// are closed to make room.
func listenAndServe(ctx context.Context, lns []net.Listener, maxOpen int, app *router.App, ops http.Handler, log *slog.Logger) error {
	servers := []*http.Server{newServer(app, log)}
	if len(lns) > 1 {
		servers = append(servers, newServer(ops, log))
	}
	lim := router.LimitConns(lns[0], tenant.MaxClients(maxOpen))
	lns[0], servers[0].ConnState = lim, lim.ConnState
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(lns[i]) }()
	}
	log.Info("serving", "addr", "http://"+lns[0].Addr().String(), "max_conns", lim.Cap())
	if len(lns) > 1 {
		log.Info("serving metrics and the operator page", "addr", "http://"+lns[1].Addr().String())
	}
	pending := len(servers)
	var failed error
	select {
	case err := <-errc:
		pending--
		failed = fmt.Errorf("serve: %w", err)
		log.Error("a server failed: shutting down", "err", err)
	case <-ctx.Done():
		log.Info("shutting down: draining requests")
	}
	app.Drain()
	err := errors.Join(failed, shutdown(servers))
	for range pending {
		<-errc // Serve has returned http.ErrServerClosed
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// newServer is an http.Server for h with the timeouts cubby serves with:
// a client gets 10 seconds to send its headers and a minute for its whole
// request. WriteTimeout is only a backstop (and makes net/http reset the
// deadline for each request on a kept-alive connection): the App gives each
// answer its own write deadline from its first byte (router.Config's
// WriteTimeout, more for an export).
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// checkAddr splits addr, the value of flag, into its host and port, or
// refuses it as bad usage naming flag when it cannot be listened on or
// dialled for its form: not HOST:PORT, or a port that is neither a service
// name nor a number from 1 to 65535 (or 0, any free port, if anyPort).
// Found before anything is touched, that is a usage error, not net.Listen's
// failure halfway through starting.
func checkAddr(flag, addr string, anyPort bool) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", &usageError{fmt.Sprintf("%s %q: %v", flag, addr, err)}
	}
	// LookupPort takes "" for 0; a port left out is a mistake, not a wish
	// for any free one.
	if n, err := net.LookupPort("tcp", port); port == "" || err != nil || n == 0 && !anyPort {
		lowest := 1
		if anyPort {
			lowest = 0
		}
		return "", "", &usageError{fmt.Sprintf("%s %q: want HOST:PORT with a port from %d to 65535", flag, addr, lowest)}
	}
	return host, port, nil
}

// listen listens on every address, or on none if one fails.
func listen(addrs []string) ([]net.Listener, error) {
	var lns []net.Listener
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll(lns)
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// closeAll closes listeners that will not be served.
func closeAll(lns []net.Listener) {
	for _, l := range lns {
		l.Close()
	}
}

// shutdown stops the servers in order, each waiting for its requests in
// flight, within 30 seconds in all. The metrics server comes last, so the
// drain can be watched.
func shutdown(servers []*http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down: %w", err))
		}
	}
	return errors.Join(errs...)
}
