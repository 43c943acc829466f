package main

// cubby migrate: bring every tenant file to the newest schema, eagerly and
// in parallel, with a progress bar. It writes, so it takes the lock.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/cubbyhq/cubby/tenant"
)

// migrateOptions are the flags of migrate.
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
	d, err := openWriter(ctx, o.data, commandLog(stderr), "")
	if err != nil {
		return err
	}
	defer d.Done(&err)
	bar := newProgress(stderr, "migrate")
	results, err := d.Pool().MigrateAll(ctx, o.jobs, bar.Update)
	bar.Finish()
	if err != nil {
		return err
	}
	return reportMigrate(stdout, results, d.Pool().SchemaVersion())
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
		fmt.Fprintf(w, "failed: %s (tenant %s, left at version %d): %v\n", showName(r.Tenant.Username), r.Tenant.ID, r.To, r.Err)
	}
	switch {
	case skipped > 0:
		return fmt.Errorf("interrupted: %d of %d tenant(s) not migrated", skipped, len(rs))
	case len(failed) > 0:
		return fmt.Errorf("%d of %d tenant(s) failed to migrate", len(failed), len(rs))
	}
	return nil
}
