// Command cubby serves a notes app in which every user's data lives in a
// SQLite file of their own, and is the operator's tool for that data.
//
// Each subcommand is one entry of the table in commands: its name, a line
// of help, and a define function that registers its flags and returns the
// function that runs it. Each lives in a file of its own (cmd_serve.go,
// cmd_migrate.go, …) with its flags, help and run; this file holds the
// table, run, the usage and the flag helpers they share. Every command
// opens its data directory through package datadir. Flags may come before
// or after positional arguments. Exit codes: 0 ok, 1 failure, 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	// A write to a closed stdout or stderr (a progress line piped into
	// head that has exited) fails with EPIPE instead of killing cubby
	// halfway through a backup or restore.
	signal.Ignore(syscall.SIGPIPE)
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
		{name: "demo", summary: "serve a throwaway data directory seeded with two accounts; print how to sign in", define: defineDemo},
		{name: "healthcheck", summary: "ask a running server whether it is ready; exit 0 if it is (for container health checks)", define: defineHealthcheck},
		{name: "bench", summary: "drive a running cubby over HTTP and print throughput and latency", define: defineBench},
		{name: "version", summary: "print the version, commit and Go version of this binary", define: defineVersion},
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
	case "-version", "--version":
		args = []string{"version"}
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

// jobsFlag registers --jobs into p, defaulting to one job per CPU.
func jobsFlag(fs *flag.FlagSet, p *int, what string) {
	fs.IntVar(p, "jobs", runtime.GOMAXPROCS(0), what+" at once")
}

// noArgs refuses positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", args[0])}
	}
	return nil
}

// noArgsValidJobs refuses positional arguments and a --jobs below one.
func noArgsValidJobs(args []string, jobs int) error {
	if jobs < 1 {
		return &usageError{"--jobs must be at least 1"}
	}
	return noArgs(args)
}
