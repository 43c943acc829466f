package main

// cubby check: the integrity of routing.db and every tenant file, rows
// without files and files without rows; exit 1 on any problem. It only
// reads, so it runs beside a live server.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/cubbyhq/cubby/tenant"
)

// checkOptions are the flags of check.
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
func check(ctx context.Context, o checkOptions, stdout, stderr io.Writer) (err error) {
	d, err := openReader(ctx, o.data)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.Close()) }()
	bar := newProgress(stderr, "check")
	r, err := d.Check(ctx, tenant.CheckOptions{Quick: o.quick, Jobs: o.jobs, Progress: bar.Update})
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
