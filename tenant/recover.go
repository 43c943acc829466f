package tenant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// RecoverReport says what Recover found and did.
type RecoverReport struct {
	// Removed are the ids of tenants left half-made by a crash, whose rows
	// and files were removed.
	Removed []string
	// Orphaned are files that had no routing row, now under orphans/.
	Orphaned []string
	// TmpRemoved counts leftover snapshot files swept from tmp/.
	TmpRemoved int
}

// Recover cleans up after a crash. It removes tenants still marked
// provisioning (row and file), moves tenant files without a routing row into
// orphans/ for a person to look at, and empties tmp/. Nothing with a row is
// touched. Call it before serving, while nothing else provisions.
func (p *Pool) Recover(ctx context.Context) (RecoverReport, error) {
	var r RecoverReport
	if p.sqlite == nil {
		return r, sqliteOnly("the crash sweep")
	}
	half, err := p.sqlite.listState(ctx, StateProvisioning)
	if err != nil {
		return r, err
	}
	for _, t := range half {
		if err := removeFiles(p.tenantPath(t.ID)); err != nil {
			return r, fmt.Errorf("remove half-made tenant %s: %w", t.ID, err)
		}
		if err := p.directory.Remove(ctx, t.ID); err != nil {
			return r, err
		}
		r.Removed = append(r.Removed, t.ID)
	}
	if r.Orphaned, err = p.moveOrphans(ctx); err != nil {
		return r, err
	}
	r.TmpRemoved, err = sweepDir(filepath.Join(p.dir, "tmp"))
	return r, err
}

// moveOrphans moves every file under tenants/ whose id has no row. It
// works one two-hex folder at a time, with one query per folder, so that
// start-up stays quick and small with many tenants.
func (p *Pool) moveOrphans(ctx context.Context) ([]string, error) {
	var moved []string
	err := p.eachTenantFolder(func(folder string, files []os.DirEntry) error {
		known, err := p.sqlite.idsWithPrefix(ctx, folder)
		if err != nil {
			return err
		}
		for _, file := range files {
			if file.IsDir() || known[tenantIDOf(file.Name())] {
				continue
			}
			src := filepath.Join(p.dir, "tenants", folder, file.Name())
			dst := freeName(filepath.Join(p.dir, "orphans", file.Name()))
			if err := os.Rename(src, dst); err != nil {
				return fmt.Errorf("move orphan %s: %w", src, err)
			}
			moved = append(moved, dst)
		}
		return nil
	})
	return moved, err
}

// eachTenantFolder calls fn for each two-hex folder under tenants/, with
// the entries it holds, one folder at a time, and stops at fn's first
// error.
func (p *Pool) eachTenantFolder(fn func(folder string, files []os.DirEntry) error) error {
	root := filepath.Join(p.dir, "tenants")
	folders, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("read tenant folders: %w", err)
	}
	for _, f := range folders {
		if !f.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, f.Name()))
		if err != nil {
			return fmt.Errorf("read tenant folder: %w", err)
		}
		if err := fn(f.Name(), files); err != nil {
			return err
		}
	}
	return nil
}

// tenantIDOf returns the id in a tenant file's name, or "".
func tenantIDOf(name string) string {
	for _, s := range fileSuffixes {
		if id, ok := strings.CutSuffix(name, ".db"+s); ok && validID(id) {
			return id
		}
	}
	return ""
}

// sweepDir removes everything inside dir and says how many entries it removed.
func sweepDir(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("sweep %s: %w", dir, err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return 0, fmt.Errorf("sweep %s: %w", dir, err)
		}
	}
	return len(ents), nil
}

// freeName returns path, or path with a number added if path exists, so
// that moving a file there never replaces another.
func freeName(path string) string {
	for i := 1; ; i++ {
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			return path
		}
		path = fmt.Sprintf("%s.%d", strings.TrimSuffix(path, fmt.Sprintf(".%d", i-1)), i)
	}
}

// SweepTmp empties tmp/ (export snapshots and restores a crash left
// behind) and says how many files it removed: the one part of Recover a
// pool routed by another directory does. Call it before serving.
func (p *Pool) SweepTmp() (int, error) { return sweepDir(filepath.Join(p.dir, "tmp")) }
