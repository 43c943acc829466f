package main

// cubby demo: the fastest way to look at cubby. It serves, exactly as
// serve does, a temporary data directory seeded with two accounts and a
// few notes each, prints how to sign in, and removes the directory when it
// stops.

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/notes"
)

// demoMaxOpen is the demo's --max-open: a handful of accounts need few
// handles, and a small pool fits under any descriptor limit.
const demoMaxOpen = 64

// demoAccount is a seeded account and the notes it starts with.
type demoAccount struct {
	name     string
	password string // made at random each run
	notes    []notes.Draft
}

// demoAccounts are the accounts a demo starts with, without passwords.
func demoAccounts() []demoAccount {
	return []demoAccount{
		{name: "alice", notes: []notes.Draft{
			{Title: "Welcome to cubby", Body: "Every account keeps its notes in a SQLite file of its own."},
			{Title: "Groceries", Body: "oats, lemons, coffee beans"},
			{Title: "Reading list", Body: "The Pragmatic Programmer; SQLite's file format documentation"},
		}},
		{name: "bob", notes: []notes.Draft{
			{Title: "Hello from bob", Body: "Sign in as alice in another browser: you will not see this note."},
			{Title: "Ideas", Body: "search is full-text: try searching for coffee as alice"},
		}},
	}
}

func defineDemo(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc {
	addr := fs.String("addr", envOr("CUBBY_ADDR", "127.0.0.1:8080"), "address to listen on (env CUBBY_ADDR)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if _, _, err := checkAddr("--addr", *addr, true); err != nil {
			return err
		}
		return demo(ctx, *addr, stdout, stderr)
	}
}

// demo serves a seeded temporary data directory on addr until ctx ends,
// then removes the directory, also when it fails to start.
func demo(ctx context.Context, addr string, stdout, stderr io.Writer) (err error) {
	o := serveOptions{addr: addr, maxOpen: demoMaxOpen, signupLimit: defaultSignupLimit, logFormat: "text"}
	log, err := newLogger(stderr, o.logFormat)
	if err != nil {
		return err
	}
	if o.data, err = os.MkdirTemp("", "cubby-demo-"); err != nil {
		return fmt.Errorf("make temporary data directory: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(o.data); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove demo data: %w", rerr))
		}
	}()
	lns, err := listen([]string{o.addr})
	if err != nil {
		return err
	}
	accounts := demoAccounts()
	if err := seedDemo(ctx, o.data, accounts); err != nil {
		closeAll(lns)
		return fmt.Errorf("seed demo data: %w", err)
	}
	printDemo(stdout, "http://"+lns[0].Addr().String(), o.data, accounts)
	return serveOn(ctx, o, lns, log)
}

// seedDemo makes the data directory's accounts, each with a fresh random
// password written into accounts, and their notes.
func seedDemo(ctx context.Context, dir string, accounts []demoAccount) (err error) {
	ms, err := migrations()
	if err != nil {
		return err
	}
	d, err := datadir.Open(ctx, dir, datadir.Options{
		Migrations: ms, Create: true, Logger: commandLog(io.Discard),
		Sessions: auth.SessionStoreConfig{CleanupInterval: -1},
	})
	if err != nil {
		return err
	}
	defer d.Done(&err)
	for i := range accounts {
		a := &accounts[i]
		a.password = rand.Text()[:16] // 80 bits, base32
		t, err := d.Accounts().Signup(ctx, a.name, a.password, "demo")
		if err != nil {
			return fmt.Errorf("sign up %s: %w", a.name, err)
		}
		if err := seedNotes(ctx, d, t.ID, a.notes); err != nil {
			return fmt.Errorf("notes of %s: %w", a.name, err)
		}
	}
	return nil
}

// seedNotes writes drafts into tenant id's file.
func seedNotes(ctx context.Context, d *datadir.DataDir, id string, drafts []notes.Draft) error {
	s, release, err := d.Pool().Acquire(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	for _, n := range drafts {
		if _, err := (notes.Notebook{}).Create(ctx, s, n); err != nil {
			return err
		}
	}
	return nil
}

// printDemo tells the person at the terminal where to go and how to sign in.
func printDemo(w io.Writer, url, dir string, accounts []demoAccount) {
	fmt.Fprintf(w, "cubby demo: a throwaway server, seeded with %d accounts.\n\n", len(accounts))
	fmt.Fprintf(w, "  open      %s\n", url)
	for _, a := range accounts {
		fmt.Fprintf(w, "  username  %-8s password  %s   (%d notes)\n", a.name, a.password, len(a.notes))
	}
	fmt.Fprintf(w, "\ndata: %s\nPress Ctrl-C to stop; the data directory is removed then.\n", dir)
}
