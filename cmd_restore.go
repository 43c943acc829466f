package main

// cubby restore --from DIR: verify a backup and restore it into an empty
// data directory, under its lock. Its target must be empty: it makes the
// folder when it is missing (not its parents), and removes it again if the
// restore fails.

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/cubbyhq/cubby/datadir"
)

// restoreOptions are the flags of restore.
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
func restore(ctx context.Context, o restoreOptions, stdout, stderr io.Writer) error {
	bar := newProgress(stderr, "restore")
	m, err := datadir.Restore(ctx, o.from, o.data, bar.Update)
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
