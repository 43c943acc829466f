package main

// cubby restore --from DIR: verify a backup and restore it into an empty
// data directory, under its lock. Its target must be empty: it makes the
// folder when it is missing (not its parents), and removes it again if the
// restore fails. With --from s3://BUCKET/PREFIX?… it restores what serve
// --replicate-to replicated there instead: routing.db, then every tenant
// (--jobs at once), or only routing.db with --lazy (tenants then restore
// when first opened).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/tenant"
)

// restoreOptions are the flags of restore.
type restoreOptions struct {
	data, from string
	jobs       int  // s3 only: tenants restored at once
	lazy       bool // s3 only: routing.db alone
}

func defineRestore(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc {
	var o restoreOptions
	fs.StringVar(&o.data, "data", envOr("CUBBY_DATA", "./data"),
		"data directory to restore into: empty, or missing and then made (env CUBBY_DATA)")
	fs.StringVar(&o.from, "from", "", "folder holding a backup made by cubby backup, or the s3://BUCKET/PREFIX?… URL serve --replicate-to replicated to (required)")
	fs.IntVar(&o.jobs, "jobs", 8, "with an s3:// --from: tenants restored at once")
	fs.BoolVar(&o.lazy, "lazy", false, "with an s3:// --from: restore routing.db only; each tenant is restored when first opened")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if o.from == "" {
			return &usageError{"--from is required"}
		}
		if o.jobs < 1 {
			return &usageError{"--jobs must be at least 1"}
		}
		if strings.HasPrefix(o.from, "s3://") {
			return restoreReplica(ctx, o, stdout, stderr)
		}
		return restore(ctx, o, stdout, stderr)
	}
}

// restore verifies the backup in o.from and copies it into the empty data
// directory o.data, under the directory's lock.
func restore(ctx context.Context, o restoreOptions, stdout, stderr io.Writer) error {
	if err := checkBackupSchema(o.from); err != nil {
		return err
	}
	bar := newProgress(stderr, "restore")
	m, err := datadir.Restore(ctx, o.from, o.data, bar.Update)
	bar.Finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored routing.db and %d tenant(s) from %s into %s\n", len(m.Tenants), o.from, o.data)
	for _, t := range m.Missing {
		fmt.Fprintf(stdout, "note: tenant %s (%s) was not in the backup and will be unavailable: %s\n", t.ID, showName(t.Username), t.Error)
	}
	return nil
}

// checkBackupSchema refuses, before anything is written, a backup made by a
// newer cubby: one whose manifest, or any tenant in it, is at a schema
// version this binary does not know. Restored, its users were unavailable
// until cubby was upgraded. A manifest that cannot be read is left for
// the restore to report.
func checkBackupSchema(from string) error {
	m, err := tenant.ReadManifest(from)
	if err != nil {
		return nil
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	newest := m.SchemaVersion
	for _, t := range m.Tenants {
		newest = max(newest, t.SchemaVersion)
	}
	if newest > len(ms) {
		return fmt.Errorf("%s was made by a newer cubby (schema version %d) but this binary knows only %d; upgrade cubby to restore it",
			from, newest, len(ms))
	}
	return nil
}

// errTenantsMissing ends a restore from a replica that lacked some tenants.
var errTenantsMissing = errors.New("some tenants have no replica and will be unavailable")

// restoreReplica restores the data directory replicated at o.from into
// the empty data directory o.data.
func restoreReplica(ctx context.Context, o restoreOptions, stdout, stderr io.Writer) error {
	bar := newProgress(stderr, "restore")
	rep, err := datadir.RestoreFromReplica(ctx, o.from, o.data, datadir.ReplicaRestoreOptions{
		Jobs: o.jobs, Lazy: o.lazy, Progress: bar.Update,
	})
	bar.Finish()
	if err != nil {
		return err
	}
	if o.lazy {
		fmt.Fprintf(stdout, "restored routing.db into %s; tenants restore when first opened (serve --replicate-to the same URL)\n", o.data)
		return nil
	}
	fmt.Fprintf(stdout, "restored routing.db and %d tenant(s) into %s\n", rep.Tenants, o.data)
	for _, t := range rep.Missing {
		fmt.Fprintf(stdout, "missing: tenant %s (%s) has no replica\n", t.ID, showName(t.Username))
	}
	if len(rep.Missing) > 0 {
		return fmt.Errorf("%d tenant(s): %w", len(rep.Missing), errTenantsMissing)
	}
	return nil
}
