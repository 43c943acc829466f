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
	"os"
	"os/signal"
	"path/filepath"
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
	define func(fs *flag.FlagSet, stderr io.Writer) runFunc
}

// commands is the table of subcommands. Add new ones here.
func commands() []command {
	return []command{
		{name: "serve", summary: "serve the web app and the JSON API", define: defineServe},
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
	runCmd := cmd.define(fs, stderr)
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

// openDirectory opens DIR/routing.db, creating it with mode 0600 first:
// tenant.OpenDirectory lets SQLite create it under the process umask
// (usually 0644), and SQLite gives the -wal and -shm files the mode of
// the database.
func openDirectory(ctx context.Context, dataDir string) (*tenant.Directory, error) {
	path := filepath.Join(dataDir, "routing.db")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create routing db: %w", err)
	}
	f.Close()
	return tenant.OpenDirectory(ctx, path)
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
}

func defineServe(fs *flag.FlagSet, stderr io.Writer) runFunc {
	var o serveOptions
	fs.StringVar(&o.addr, "addr", envOr("CUBBY_ADDR", "127.0.0.1:8080"), "address to listen on (env CUBBY_ADDR)")
	dataFlag(fs, &o.data)
	fs.IntVar(&o.maxOpen, "max-open", 512, "most tenant files held open at once")
	fs.BoolVar(&o.secureCookies, "secure-cookies", false, "send the session cookie over HTTPS only")
	fs.BoolVar(&o.durable, "durable", false, "wait for the disk on every commit (synchronous=FULL)")
	fs.BoolVar(&o.noSignup, "no-signup", false, "refuse new accounts (403 signup_closed)")
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return &usageError{fmt.Sprintf("unexpected argument %q", args[0])}
		}
		if o.maxOpen < 1 {
			return &usageError{"--max-open must be at least 1"}
		}
		return serve(ctx, o, slog.New(slog.NewTextHandler(stderr, nil)))
	}
}

// serve runs the server until ctx ends, then drains requests and closes
// everything it opened.
func serve(ctx context.Context, o serveOptions, log *slog.Logger) error {
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("make data directory: %w", err)
	}
	unlock, err := lockDataDir(o.data)
	if err != nil {
		return err
	}
	defer unlock()
	ms, err := migrations()
	if err != nil {
		return err
	}
	dir, err := openDirectory(ctx, o.data)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := auth.CreateSessionTable(ctx, dir.DB()); err != nil {
		return err
	}
	pool, err := tenant.NewPool(dir, tenant.Config{
		Dir: o.data, Migrations: ms, MaxOpen: o.maxOpen, Durable: o.durable, Logger: log,
	})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := recoverPool(ctx, pool, log); err != nil {
		return err
	}
	sessions := auth.NewSessionStore(dir.DB(), auth.SessionStoreConfig{})
	defer sessions.Close()
	accounts := auth.NewAccounts(auth.AccountsConfig{
		Pool: pool, Hasher: auth.NewHasher(auth.DefaultParams(), 0), Throttle: auth.NewThrottle(auth.ThrottleConfig{}),
		Sessions: sessions, SignupClosed: o.noSignup, Logger: log,
	})
	app, err := router.New(router.Config{
		Pool: pool, Accounts: accounts, SessionStore: sessions, SecureCookies: o.secureCookies, Logger: log,
	})
	if err != nil {
		return err
	}
	return listenAndServe(ctx, o.addr, app, log)
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

// listenAndServe serves app on addr until ctx ends, then stops taking
// requests, marks the app not ready and waits for requests in flight.
func listenAndServe(ctx context.Context, addr string, app *router.App, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           app,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", "http://"+ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests")
	app.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	<-errc // Serve has returned http.ErrServerClosed
	log.Info("stopped")
	return nil
}
