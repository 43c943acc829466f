// Command cubby serves a notes app in which every user's data lives in a
// SQLite file of their own, and is the operator's tool for that data.
//
// Each subcommand is one entry of the table in commands: its name, a line
// of help, and a define function that registers its flags and returns the
// function that runs it. Flags may come before or after positional
// arguments. Exit codes: 0 ok, 1 failure, 2 bad usage.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cubby/auth"
	"cubby/router"
	"cubby/tenant"
)

//go:embed schema.sql
var schemaSQL string

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runFunc runs a command with the positional arguments left after its flags.
type runFunc func(ctx context.Context, args []string) error

// command is one subcommand of cubby.
type command struct {
	name    string
	args    string // positional arguments, for the usage line
	summary string
	// define registers the command's flags on fs and returns what runs it.
	define func(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc
}

// commands is the table of subcommands. Add new ones here.
func commands() []command {
	return []command{
		{name: "serve", summary: "serve the web app and the JSON API", define: defineServe},
		{name: "migrate", summary: "bring every tenant file to the newest schema", define: defineMigrate},
		{name: "users", summary: "list the users, sorted by name", define: defineUsers},
		{name: "delete-user", args: "NAME", summary: "delete an account: its file, routing row and sessions", define: defineDeleteUser},
		{name: "backup", summary: "snapshot routing.db and every tenant file into an empty folder", define: defineBackup},
		{name: "restore", summary: "verify a backup and restore it into an empty data directory", define: defineRestore},
		{name: "check", summary: "check routing.db and every tenant file; exit 1 on any problem", define: defineCheck},
		{name: "bench", summary: "drive a running cubby over HTTP and print throughput and latency", define: defineBench},
	}
}

// usageError is a mistake in how cubby was called (exit 2).
type usageError struct{ msg string }

// Error says what was wrong with the call.
func (e *usageError) Error() string { return e.msg }

// run runs cubby with args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printUsage(stdout)
		return exitOK
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			cmd = &c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "cubby: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet("cubby "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	runCmd := cmd.define(fs, stdout, stderr)
	pos, err := parseInterspersed(fs, args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		printCommandUsage(stdout, cmd, fs)
		return exitOK
	case err != nil:
		return usageFailure(stderr, cmd, fs, err)
	}
	err = runCmd(ctx, pos)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return usageFailure(stderr, cmd, fs, err)
	}
	fmt.Fprintf(stderr, "cubby %s: %v\n", cmd.name, err)
	return exitFailure
}

// usageFailure reports a mistake in calling cmd and returns exitUsage.
func usageFailure(stderr io.Writer, cmd *command, fs *flag.FlagSet, err error) int {
	fmt.Fprintf(stderr, "cubby %s: %v\n\n", cmd.name, err)
	printCommandUsage(stderr, cmd, fs)
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: cubby COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'cubby COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "CUBBY_ADDR and CUBBY_DATA set the defaults of --addr and --data.")
}

func printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: cubby %s [flags]%s\n\n%s\n\nflags:\n", c.name, strings.TrimRight(" "+c.args, " "), c.summary)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments, and returns the positional ones. After "--"
// everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// envOr returns the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// dataFlag registers --data, which every command takes, into p.
func dataFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "data", envOr("CUBBY_DATA", "./data"), "data directory (env CUBBY_DATA)")
}

// lockDataDir takes the data directory's writer lock (an flock on
// DIR/.lock), so that serve, migrate, delete-user and restore never run on
// one directory at once. The returned function releases it.
func lockDataDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another cubby process (serve, migrate, delete-user or restore) is using %s", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// openDirectory opens DIR/routing.db (tenant.OpenDirectory creates it 0600),
// waiting for the disk on every commit when durable.
func openDirectory(ctx context.Context, dataDir string, durable bool) (*tenant.Directory, error) {
	var opts []tenant.DirectoryOption
	if durable {
		opts = append(opts, tenant.DurableDirectory())
	}
	return tenant.OpenDirectory(ctx, filepath.Join(dataDir, "routing.db"), opts...)
}

// migrations parses the embedded per-tenant schema.
func migrations() ([]tenant.Migration, error) {
	ms, err := tenant.ParseMigrations(schemaSQL)
	if err != nil {
		return nil, fmt.Errorf("schema.sql: %w", err)
	}
	return ms, nil
}

// serveOptions are the flags of serve.
type serveOptions struct {
	addr, data                       string
	maxOpen                          int
	secureCookies, durable, noSignup bool
	signupLimit                      int    // accounts per client address per hour; 0: none
	trustedProxies                   string // CIDR list; parsed into proxies
	proxies                          []netip.Prefix
	metricsAddr                      string // "": no /metrics at all
	logFormat                        string // text or json
}

// defaultSignupLimit is --signup-limit's default.
const defaultSignupLimit = 10

// envInt returns the environment variable key as an int, or def when it is
// unset or empty; a value that is not an integer is reported as an error.
func envInt(key string, def int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, &usageError{fmt.Sprintf("%s=%q is not a whole number", key, v)}
	}
	return n, nil
}

func defineServe(fs *flag.FlagSet, _, stderr io.Writer) runFunc {
	var o serveOptions
	fs.StringVar(&o.addr, "addr", envOr("CUBBY_ADDR", "127.0.0.1:8080"), "address to listen on (env CUBBY_ADDR)")
	dataFlag(fs, &o.data)
	fs.IntVar(&o.maxOpen, "max-open", 512, "most tenant files held open at once")
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
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return &usageError{fmt.Sprintf("unexpected argument %q", args[0])}
		}
		if o.maxOpen < 1 {
			return &usageError{"--max-open must be at least 1"}
		}
		if err := o.checkAuthFlags(envErr); err != nil {
			return err
		}
		if o.metricsAddr != "" && o.metricsAddr == o.addr {
			return &usageError{"--metrics-addr must differ from --addr"}
		}
		log, err := newLogger(stderr, o.logFormat)
		if err != nil {
			return err
		}
		return serve(ctx, o, log)
	}
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
		h = slog.NewTextHandler(w, nil)
	case "json":
		h = slog.NewJSONHandler(w, nil)
	default:
		return nil, &usageError{fmt.Sprintf("--log-format must be text or json, not %q", format)}
	}
	return slog.New(router.LogHandler(h)), nil
}

// serve runs the server until ctx ends, then drains requests and closes
// everything it opened. What may refuse to start (the descriptor limit,
// the addresses) is checked before the data directory is touched, and a
// refusal after that (the lock, a damaged routing.db) leaves it as it was.
func serve(ctx context.Context, o serveOptions, log *slog.Logger) error {
	if err := tenant.CheckFileLimit(o.maxOpen); err != nil {
		return err
	}
	addrs := []string{o.addr}
	if o.metricsAddr != "" {
		addrs = append(addrs, o.metricsAddr)
	}
	lns, err := listen(addrs)
	if err != nil {
		return err
	}
	app, metrics, done, err := openApp(ctx, o, log)
	if err != nil {
		closeAll(lns)
		return err
	}
	defer done()
	return listenAndServe(ctx, lns, o.maxOpen, app, metrics.Handler(), log)
}

// openApp makes (if missing), locks and opens the data directory, cleans
// up after a crash, and builds the App over it; done closes it all. If it
// fails, the data directory is left as it found it.
func openApp(ctx context.Context, o serveOptions, log *slog.Logger) (
	_ *router.App, _ *router.Metrics, done func(), err error,
) {
	defer noteDataDir(o.data).takeBackIf(&err)
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("make data directory: %w", err)
	}
	unlock, err := lockDataDir(o.data)
	if err != nil {
		return nil, nil, nil, err
	}
	metrics := router.NewMetrics(log)
	pc := tenant.Config{MaxOpen: o.maxOpen, Durable: o.durable, Logger: log, OnOpen: metrics.ObserveOpen}
	d, err := openDataDir(ctx, o.data, pc, auth.SessionStoreConfig{})
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	done = func() { d.Close(); unlock() }
	if err := recoverPool(ctx, d.pool, log); err != nil {
		done()
		return nil, nil, nil, err
	}
	accounts := d.accounts(auth.NewHasher(auth.DefaultParams(), 0), signupRules{o.noSignup, o.signupLimit}, log)
	app, err := router.New(router.Config{
		Pool: d.pool, Accounts: accounts, SessionStore: d.sessions, DeviceKey: d.deviceKey,
		SecureCookies: o.secureCookies, TrustedProxies: o.proxies, Logger: log, Metrics: metrics,
	})
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	return app, metrics, done, nil
}

// recoverPool cleans up after a crash and logs what it found.
func recoverPool(ctx context.Context, pool *tenant.Pool, log *slog.Logger) error {
	r, err := pool.Recover(ctx)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	log.Info("recovered data directory", "half_made_removed", len(r.Removed),
		"orphans_moved", len(r.Orphaned), "tmp_swept", r.TmpRemoved)
	for _, id := range r.Removed {
		log.Warn("removed a tenant left half-made by a crash", "tenant", id)
	}
	for _, f := range r.Orphaned {
		log.Warn("moved a tenant file without a routing row to orphans/", "file", f)
	}
	return nil
}

// listenAndServe serves app on lns[0], and metrics on lns[1] when there is
// one, until ctx ends or a server fails; then it marks the app not ready,
// stops taking requests and waits for those in flight. Connections to the
// app are capped at what the descriptor limit leaves beside maxOpen pool
// handles: they draw on the descriptors the pool needs too, and idle ones
// are closed to make room.
func listenAndServe(ctx context.Context, lns []net.Listener, maxOpen int, app *router.App, metrics http.Handler, log *slog.Logger) error {
	servers := []*http.Server{newServer(app, log)}
	if len(lns) > 1 {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics)
		servers = append(servers, newServer(mux, log))
	}
	lim := router.LimitConns(lns[0], tenant.MaxClients(maxOpen))
	lns[0], servers[0].ConnState = lim, lim.ConnState
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(lns[i]) }()
	}
	log.Info("serving", "addr", "http://"+lns[0].Addr().String(), "max_conns", lim.Cap())
	if len(lns) > 1 {
		log.Info("serving metrics", "addr", "http://"+lns[1].Addr().String()+"/metrics")
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
