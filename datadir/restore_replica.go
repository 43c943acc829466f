package datadir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/tenant"
)

// ReplicaRestoreOptions are how RestoreFromReplica restores.
type ReplicaRestoreOptions struct {
	// Jobs is how many tenants are restored at once (default 8).
	Jobs int
	// Lazy restores routing.db only: each tenant is restored when it is
	// first opened (restore on open).
	Lazy bool
	// Progress, if set, is told how many tenants are done of how many; its
	// calls never overlap.
	Progress func(done, total int)
}

// ReplicaRestoreReport is what RestoreFromReplica brought back.
type ReplicaRestoreReport struct {
	// Tenants is how many tenant files were restored.
	Tenants int
	// Missing are the tenants routing.db lists with no replica; they are
	// unavailable until one appears.
	Missing []tenant.Tenant
}

// RestoreFromReplica restores the data directory replicated at url into
// dir, which must be empty or missing (then it is made, not its parents),
// under the directory's lock: routing.db, then every tenant it lists
// (unless o.Lazy). A tenant without a replica is reported, not fatal. When
// it fails, dir is left as it was.
func RestoreFromReplica(ctx context.Context, url, dir string, o ReplicaRestoreOptions) (_ ReplicaRestoreReport, err error) {
	var rep ReplicaRestoreReport
	if o.Jobs <= 0 {
		o.Jobs = 8
	}
	if err := tenant.CheckRestoreTarget(dir); err != nil {
		return rep, err
	}
	left := noteDataDir(dir)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return rep, fmt.Errorf("make data directory: %w", err)
	}
	lock, err := TakeLock(dir)
	if err != nil {
		left.takeBack()
		return rep, err
	}
	defer func() {
		if err != nil {
			removeRestored(dir)
		}
		err = errors.Join(err, lock.Release())
		if err != nil {
			left.takeBack()
		}
	}()
	r, err := replica.Open(ctx, replica.Config{URL: url, Dir: dir})
	if err != nil {
		return rep, err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return rep, fmt.Errorf("make tmp folder: %w", err)
	}
	if err := r.RestoreRouting(ctx, routingPath(dir), tmp); err != nil {
		if errors.Is(err, tenant.ErrNoReplica) {
			return rep, fmt.Errorf("%s holds no replica of a routing.db: %w", r.URL(), err)
		}
		return rep, err
	}
	if !o.Lazy {
		if rep, err = restoreTenants(ctx, r, dir, o); err != nil {
			return rep, err
		}
	}
	return rep, r.Bind()
}

// restoreTenants restores every tenant routing.db lists, o.Jobs at once.
func restoreTenants(ctx context.Context, r *replica.Replicator, dir string, o ReplicaRestoreOptions) (ReplicaRestoreReport, error) {
	var rep ReplicaRestoreReport
	ts, err := listTenants(ctx, dir)
	if err != nil {
		return rep, err
	}
	tmp := filepath.Join(dir, "tmp")
	var (
		mu   sync.Mutex
		done int
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, o.Jobs)
	)
	for _, t := range ts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := r.RestoreTenant(ctx, t.ID, tenant.FilePath(dir, t.ID), tmp)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, tenant.ErrNoReplica):
				rep.Missing = append(rep.Missing, t)
			case err != nil:
				errs = append(errs, err)
			default:
				rep.Tenants++
			}
			done++
			if o.Progress != nil {
				o.Progress(done, len(ts))
			}
		}()
	}
	wg.Wait()
	return rep, errors.Join(errs...)
}

// listTenants reads every made tenant from the restored routing.db.
func listTenants(ctx context.Context, dir string) ([]tenant.Tenant, error) {
	d, err := tenant.OpenDirectory(ctx, routingPath(dir))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var out []tenant.Tenant
	err = d.Walk(ctx, 0, func(t tenant.Tenant) error {
		if t.State != tenant.StateProvisioning {
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return out, nil
}

// removeRestored removes what a failed restore wrote into dir, which was
// empty before it.
func removeRestored(dir string) {
	for _, name := range []string{"tenants", "tmp", "replica"} {
		os.RemoveAll(filepath.Join(dir, name))
	}
	for _, s := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(routingPath(dir) + s)
	}
}
