package main

// The operator's commands. Each works on the data directory named by
// --data (or CUBBY_DATA) and reports on stdout; progress bars, log lines
// and the final error go to stderr.
//
// Only serve makes a missing data directory; the others refuse one, and one
// without a routing.db, as a wrong --data. The exception is restore, whose
// target must be empty: it makes the folder when it is missing (not its
// parents), and removes it again if the restore fails.
//
// migrate, delete-user and restore write, so they take the data directory's
// lock and are refused while serve (or another writer) runs. A refused
// command leaves the data directory exactly as it was (see refusal.go). users, check
// and backup only read, opening every file read-only, and run beside a live
// server.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"cubby/auth"
	"cubby/tenant"
)

// dataDir is a data directory opened to write: routing.db, the pool of
// tenant files and the session table beside the directory. Whoever opens
// one holds the directory's lock.
type dataDir struct {
	routing  *tenant.Directory
	pool     *tenant.Pool
	sessions *auth.SessionStore
	// deviceKey signs device cookies; it is kept in routing.db.
	deviceKey []byte
}

// openDataDir opens the data directory at path as serve does, making
// routing.db, its session table and its device-cookie key when they are
// missing. cfg.Dir and
// cfg.Migrations are filled in.
func openDataDir(ctx context.Context, path string, cfg tenant.Config, sc auth.SessionStoreConfig) (_ *dataDir, err error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	routing, err := openDirectory(ctx, path, cfg.Durable)
	if err != nil {
		return nil, err
	}
	d := &dataDir{routing: routing}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if err := auth.CreateSessionTable(ctx, routing.DB()); err != nil {
		return nil, err
	}
	if d.deviceKey, err = auth.LoadDeviceKey(ctx, routing.DB()); err != nil {
		return nil, err
	}
	cfg.Dir, cfg.Migrations = path, ms
	if d.pool, err = tenant.NewPool(routing, cfg); err != nil {
		return nil, err
	}
	d.sessions = auth.NewSessionStore(routing.DB(), sc)
	return d, nil
}

// signupRules are who may sign up: nobody when closed, else at most limit
// accounts per client address per hour (0: no limit).
type signupRules struct {
	closed bool
	limit  int
}

// accounts returns the accounts kept in d, hashing passwords with h.
func (d *dataDir) accounts(h *auth.Hasher, signup signupRules, log *slog.Logger) *auth.Accounts {
	return auth.NewAccounts(auth.AccountsConfig{
		Pool: d.pool, Hasher: h, Throttle: auth.NewThrottle(auth.ThrottleConfig{}),
		Sessions: d.sessions, SignupClosed: signup.closed, SignupLimit: signup.limit, Logger: log,
	})
}

// Close closes the session store, the pool and routing.db, in that order.
func (d *dataDir) Close() error {
	var errs []error
	if d.sessions != nil {
		errs = append(errs, d.sessions.Close())
	}
	if d.pool != nil {
		errs = append(errs, d.pool.Close())
	}
	errs = append(errs, d.routing.Close())
	return errors.Join(errs...)
}

// openLocked opens the data directory path for a command that writes, after
// checking that it exists and taking its lock. done closes it and releases
// the lock. Unlike serve's, its session store never sweeps expired rows.
func openLocked(ctx context.Context, path string, log *slog.Logger) (_ *dataDir, done func(), err error) {
	if err := requireDataDir(path); err != nil {
		return nil, nil, err
	}
	unlock, err := lockDataDir(path)
	if err != nil {
		return nil, nil, err
	}
	d, err := openDataDir(ctx, path, tenant.Config{Logger: log}, auth.SessionStoreConfig{CleanupInterval: -1})
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return d, func() { d.Close(); unlock() }, nil
}

// requireDataDir checks that dir is an existing data directory. Only serve
// makes one, so anywhere else a missing folder or routing.db means --data
// points at the wrong place, and making them would hide that.
func requireDataDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("data directory %s does not exist (only serve makes one; check --data or CUBBY_DATA)", dir)
	case err != nil:
		return fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("data directory %s is not a folder", dir)
	}
	_, err = os.Stat(filepath.Join(dir, "routing.db"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s holds no routing.db, so it is not a cubby data directory (check --data or CUBBY_DATA)", dir)
	}
	return err
}

// commandLog is the logger of a command other than serve: warnings and
// errors only, as text on stderr.
func commandLog(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
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

type migrateOptions struct {
	data string
	jobs int
}

func defineMigrate(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc {
	var o migrateOptions
	dataFlag(fs, &o.data)
	jobsFlag(fs, &o.jobs, "tenant files migrated")
	return func(ctx context.Context, args []string) error {
		if err := noArgsValidJobs(args, o.jobs); err != nil {
			return err
		}
		return migrate(ctx, o, stdout, stderr)
	}
}

// migrate brings every tenant file to the newest schema, going on past the
// ones that fail and listing them at the end.
func migrate(ctx context.Context, o migrateOptions, stdout, stderr io.Writer) (err error) {
	defer noteDataDir(o.data).takeBackIf(&err)
	d, done, err := openLocked(ctx, o.data, commandLog(stderr))
	if err != nil {
		return err
	}
	defer done()
	bar := newProgress(stderr, "migrate")
	results, err := d.pool.MigrateAll(ctx, o.jobs, bar.Update)
	bar.Finish()
	if err != nil {
		return err
	}
	return reportMigrate(stdout, results, d.pool.SchemaVersion())
}

// reportMigrate sums up a migrate run, lists the tenants that failed, and
// returns an error when any did or the run was interrupted.
func reportMigrate(w io.Writer, rs []tenant.MigrateResult, version int) error {
	var migrated, current, skipped int
	var failed []tenant.MigrateResult
	for _, r := range rs {
		switch {
		case errors.Is(r.Err, context.Canceled), errors.Is(r.Err, context.DeadlineExceeded):
			skipped++
		case r.Err != nil:
			failed = append(failed, r)
		case r.From == r.To:
			current++
		default:
			migrated++
		}
	}
	fmt.Fprintf(w, "schema version %d: %d tenant(s) migrated, %d already current, %d failed",
		version, migrated, current, len(failed))
	if skipped > 0 {
		fmt.Fprintf(w, ", %d not reached", skipped)
	}
	fmt.Fprintln(w)
	for _, r := range failed {
		fmt.Fprintf(w, "failed: %s (tenant %s, left at version %d): %v\n", r.Tenant.Username, r.Tenant.ID, r.To, r.Err)
	}
	switch {
	case skipped > 0:
		return fmt.Errorf("interrupted: %d of %d tenant(s) not migrated", skipped, len(rs))
	case len(failed) > 0:
		return fmt.Errorf("%d of %d tenant(s) failed to migrate", len(failed), len(rs))
	}
	return nil
}

func defineDeleteUser(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc {
	var data string
	dataFlag(fs, &data)
	return func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return &usageError{"want exactly one NAME"}
		}
		return deleteUser(ctx, data, args[0], stdout, stderr)
	}
}

// deleteUser removes the account of user name as deleting it in the app
// does: the tenant's file, its routing row and every session.
func deleteUser(ctx context.Context, data, name string, stdout, stderr io.Writer) (err error) {
	defer noteDataDir(data).takeBackIf(&err)
	log := commandLog(stderr)
	d, done, err := openLocked(ctx, data, log)
	if err != nil {
		return err
	}
	defer done()
	t, err := d.routing.Lookup(ctx, name)
	if errors.Is(err, tenant.ErrNotFound) {
		return fmt.Errorf("no user %s", name)
	}
	if err != nil {
		return err
	}
	// Remove asks for no password, so the hasher's cost never matters here.
	accounts := d.accounts(auth.NewHasher(auth.DefaultParams(), 1), signupRules{}, log)
	if err := accounts.Remove(ctx, t.ID); err != nil {
		return fmt.Errorf("delete %s: %w", t.Username, err)
	}
	fmt.Fprintf(stdout, "deleted user %s (tenant %s): file, routing row and sessions\n", t.Username, t.ID)
	return nil
}

type backupOptions struct {
	data, out string
	jobs      int
}

func defineBackup(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc {
	var o backupOptions
	dataFlag(fs, &o.data)
	fs.StringVar(&o.out, "out", "", "folder to back up into: missing (then made) or empty (required)")
	jobsFlag(fs, &o.jobs, "tenant files copied")
	return func(ctx context.Context, args []string) error {
		if err := noArgsValidJobs(args, o.jobs); err != nil {
			return err
		}
		if o.out == "" {
			return &usageError{"--out is required"}
		}
		return backup(ctx, o, stdout, stderr)
	}
}

// backup snapshots routing.db and every tenant file into o.out, with a
// manifest; it only reads the data directory, so a server may be running.
func backup(ctx context.Context, o backupOptions, stdout, stderr io.Writer) error {
	if err := requireDataDir(o.data); err != nil {
		return err
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	bar := newProgress(stderr, "backup")
	m, err := tenant.Backup(ctx, o.data, o.out, tenant.BackupOptions{
		SchemaVersion: len(ms), Jobs: o.jobs, Progress: bar.Update,
	})
	bar.Finish()
	if err != nil && !errors.Is(err, tenant.ErrIncomplete) {
		return err
	}
	fmt.Fprintf(stdout, "backed up routing.db and %d tenant(s) from %s into %s (manifest %s)\n",
		len(m.Tenants), o.data, o.out, filepath.Join(o.out, tenant.ManifestName))
	return err // an incomplete backup names the tenants it missed
}

type restoreOptions struct{ data, from string }

func defineRestore(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc {
	var o restoreOptions
	fs.StringVar(&o.data, "data", envOr("CUBBY_DATA", "./data"),
		"data directory to restore into: empty, or missing and then made (env CUBBY_DATA)")
	fs.StringVar(&o.from, "from", "", "folder holding a backup made by cubby backup (required)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if o.from == "" {
			return &usageError{"--from is required"}
		}
		return restore(ctx, o, stdout, stderr)
	}
}

// restore verifies the backup in o.from and copies it into the empty data
// directory o.data, under the directory's lock.
func restore(ctx context.Context, o restoreOptions, stdout, stderr io.Writer) (err error) {
	// Restore takes back what it wrote; take back the folder and lock file too.
	defer noteDataDir(o.data).takeBackIf(&err)
	if err := os.Mkdir(o.data, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("make data directory: %w", err)
	}
	unlock, err := lockDataDir(o.data)
	if err != nil {
		return err
	}
	defer unlock()
	bar := newProgress(stderr, "restore")
	m, err := tenant.Restore(ctx, o.from, o.data, bar.Update)
	bar.Finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored routing.db and %d tenant(s) from %s into %s\n", len(m.Tenants), o.from, o.data)
	for _, t := range m.Missing {
		fmt.Fprintf(stdout, "note: tenant %s (%s) was not in the backup and will be unavailable: %s\n", t.ID, t.Username, t.Error)
	}
	return nil
}

type checkOptions struct {
	data  string
	quick bool
	jobs  int
}

func defineCheck(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc {
	var o checkOptions
	dataFlag(fs, &o.data)
	fs.BoolVar(&o.quick, "quick", false, "run quick_check, which skips matching indexes against tables")
	jobsFlag(fs, &o.jobs, "tenant files checked")
	return func(ctx context.Context, args []string) error {
		if err := noArgsValidJobs(args, o.jobs); err != nil {
			return err
		}
		return check(ctx, o, stdout, stderr)
	}
}

// check reports on the integrity of routing.db and every tenant file, rows
// without files and files without rows; anything wrong is a failure.
func check(ctx context.Context, o checkOptions, stdout, stderr io.Writer) error {
	if err := requireDataDir(o.data); err != nil {
		return err
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	bar := newProgress(stderr, "check")
	r, err := tenant.Check(ctx, o.data, tenant.CheckOptions{
		Quick: o.quick, SchemaVersion: len(ms), Jobs: o.jobs, Progress: bar.Update,
	})
	bar.Finish()
	if err != nil {
		if len(r.Problems) > 0 {
			r.WriteTo(stdout)
		}
		return fmt.Errorf("could not finish: %w", err)
	}
	if _, err := r.WriteTo(stdout); err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("%d problem(s) found in %s", len(r.Problems), o.data)
	}
	return nil
}
