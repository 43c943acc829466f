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
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
	if err := outsideData(o.out, o.data); err != nil {
		return err
	}
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

// outsideData refuses an out that is, or lies inside, the data directory
// once symbolic links are followed: tenant.Backup compares the paths as
// written, so --out through a link into the data directory was written
// there.
func outsideData(out, data string) error {
	ro, err := resolvePath(out)
	if err != nil {
		return fmt.Errorf("resolve backup folder: %w", err)
	}
	rd, err := resolvePath(data)
	if err != nil {
		return fmt.Errorf("resolve data folder: %w", err)
	}
	if rel, err := filepath.Rel(rd, ro); err == nil &&
		(rel == "." || rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))) {
		return fmt.Errorf("backup folder %s lies inside the data folder %s", out, data)
	}
	return nil
}

// resolvePath is the absolute path that path names, following symbolic
// links one element at a time as the system does (so "link/.." is the
// folder holding link's target), for a path whose last elements may not
// exist yet.
func resolvePath(path string) (string, error) {
	cur := string(filepath.Separator)
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		if cur, err = filepath.EvalSymlinks(wd); err != nil {
			return "", err
		}
	}
	missing := false // cur does not exist: what follows is made as written
	for _, elem := range strings.Split(path, string(filepath.Separator)) {
		switch elem {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, elem)
		if !missing {
			switch r, err := filepath.EvalSymlinks(next); {
			case err == nil:
				next = r
			case errors.Is(err, fs.ErrNotExist):
				missing = true
			default:
				return "", err
			}
		}
		cur = next
	}
	return cur, nil
}
