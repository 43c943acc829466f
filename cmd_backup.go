package main

// cubby backup --out DIR: mirror the data directory into an empty folder,
// each file a consistent snapshot, with a manifest. It only reads, so it
// runs beside a live server.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/cubbyhq/cubby/tenant"
)

// backupOptions are the flags of backup.
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
func backup(ctx context.Context, o backupOptions, stdout, stderr io.Writer) (err error) {
	d, err := openReader(ctx, o.data)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.Close()) }()
	bar := newProgress(stderr, "backup")
	m, err := d.Backup(ctx, o.out, tenant.BackupOptions{Jobs: o.jobs, Progress: bar.Update})
	bar.Finish()
	if err != nil && !errors.Is(err, tenant.ErrIncomplete) {
		return err
	}
	fmt.Fprintf(stdout, "backed up routing.db and %d tenant(s) from %s into %s (manifest %s)\n",
		len(m.Tenants), o.data, o.out, filepath.Join(o.out, tenant.ManifestName))
	return err // an incomplete backup names the tenants it missed
}
