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
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// checkOptions are the flags of check.
type checkOptions struct {
	data  string
	quick bool
	jobs  int
	// cluster, replicateTo and stuck are check --cluster's: the etcd
	// URL, the bucket, and how long provisioning may last.
	cluster, replicateTo string
	stuck                time.Duration
}

func defineCheck(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc {
	var o checkOptions
	dataFlag(fs, &o.data)
	fs.BoolVar(&o.quick, "quick", false, "run quick_check, which skips matching indexes against tables")
	jobsFlag(fs, &o.jobs, "tenant files checked")
	fs.StringVar(&o.cluster, "cluster", envOr("CUBBY_CLUSTER", ""),
		"check the cluster at etcd://HOST:PORT[,…] (its directory, owner keys and, with --replicate-to, replicas) instead of --data (env CUBBY_CLUSTER)")
	fs.StringVar(&o.replicateTo, "replicate-to", "",
		"with --cluster: also check that every active user has a replica in s3://BUCKET/PREFIX?endpoint=URL&… (credentials from AWS_*)")
	fs.DurationVar(&o.stuck, "stuck-after", 10*time.Minute, "with --cluster: a user provisioning for longer is a problem")
	return func(ctx context.Context, args []string) error {
		if err := noArgsValidJobs(args, o.jobs); err != nil {
			return err
		}
		if o.cluster != "" {
			return checkCluster(ctx, o, stdout, stderr)
		}
		if o.replicateTo != "" {
			return &usageError{"--replicate-to is for --cluster: check reads a node's data directory without its bucket"}
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
