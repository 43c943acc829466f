// Command todo is a second app on cubby's tenancy core: a todo list in
// which every user's items live in a SQLite file of their own. It uses
// package tenant alone (a Directory, a Pool, a Store per request) with its
// own schema and its own handlers, and shares nothing else with cubby's
// notes app: the core is not tied to any one application.
//
//	go run ./examples/todo --addr 127.0.0.1:8081 --data ./todo-data
//	curl -X POST -H 'X-User: alice' localhost:8081/signup
//	curl -H 'X-User: alice' -d '{"title":"buy milk"}' localhost:8081/todos
//	curl -H 'X-User: alice' localhost:8081/todos
//
// It trusts the X-User header to say who is asking, so it belongs behind a
// proxy that authenticates people and sets that header. It takes no lock on
// its data directory: run one process per directory (cubby's datadir
// package shows how to add one).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	data := flag.String("data", "./todo-data", "data directory, made if missing")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		err = run(ctx, ln, *data)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "todo:", err)
		os.Exit(1)
	}
}

// run serves the app on ln over the data directory dir until ctx ends,
// then stops taking requests, waits for those in flight and closes the
// data directory. It closes ln.
func run(ctx context.Context, ln net.Listener, dir string) (err error) {
	log := slog.Default()
	app, closeApp, err := open(ctx, dir, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer func() { err = errors.Join(err, closeApp()) }()
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", "http://"+ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// open makes (if missing) and opens the data directory: routing.db and a
// pool of per-user files with the todo schema, cleaned up after any crash.
// The function it returns closes them.
func open(ctx context.Context, dir string, log *slog.Logger) (*App, func() error, error) {
	ms, err := tenant.ParseMigrations(schemaSQL)
	if err != nil {
		return nil, nil, fmt.Errorf("schema.sql: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("make data directory: %w", err)
	}
	d, err := tenant.OpenDirectory(ctx, filepath.Join(dir, tenant.RoutingFile))
	if err != nil {
		return nil, nil, err
	}
	p, err := tenant.NewPool(d, tenant.Config{Dir: dir, Migrations: ms, MaxOpen: 128, Logger: log})
	if err != nil {
		return nil, nil, errors.Join(err, d.Close())
	}
	closeAll := func() error { return errors.Join(p.Close(), d.Close()) }
	if _, err := p.Recover(ctx); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("recover: %w", err), closeAll())
	}
	return &App{pool: p, log: log}, closeAll, nil
}
