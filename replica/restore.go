package replica

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/benbjohnson/litestream"

	"github.com/cubbyhq/cubby/tenant"
)

// Restore writes tenant id's latest replicated state to dst, which must
// not exist, mode 0600. A tenant with no replica is tenant.ErrNoReplica.
// Litestream's local state for the tenant is forgotten first: it described
// the file that was lost.
func (r *Replicator) Restore(ctx context.Context, id, dst string) error {
	if err := r.awaitDetach(ctx, id); err != nil {
		return err
	}
	r.mu.Lock()
	delete(r.stamps, id) // its local state goes: the next attach starts a new path
	r.mu.Unlock()
	if err := removeMeta(r.cfg.Dir, id); err != nil {
		return err
	}
	key, err := r.sourceKey(id)
	if err == nil {
		err = r.restore(ctx, key, dst)
	}
	switch {
	case errors.Is(err, tenant.ErrNoReplica):
		r.stats.restoreNone.Add(1)
	case err != nil:
		r.stats.restoreFails.Add(1)
	default:
		r.stats.restores.Add(1)
	}
	if err != nil {
		return fmt.Errorf("restore tenant %s: %w", id, err)
	}
	return nil
}

// restore writes the replica at key into dst (0600). Litestream writes
// dst.tmp, then renames it and syncs the folder.
func (r *Replicator) restore(ctx context.Context, key, dst string) error {
	c, err := r.clients.get(ctx, key)
	if err != nil {
		return err
	}
	defer r.clients.put(c)
	rep := litestream.NewReplicaWithClient(nil, newCountingClient(c, r.stats))
	err = rep.Restore(ctx, litestream.RestoreOptions{OutputPath: dst})
	if errors.Is(err, litestream.ErrTxNotAvailable) || errors.Is(err, litestream.ErrNoSnapshots) {
		return tenant.ErrNoReplica
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		return fmt.Errorf("make restored file private: %w", err)
	}
	return nil
}

// Remove deletes tenant id's replica and local replication state; the pool
// calls it when it deletes the tenant.
func (r *Replicator) Remove(ctx context.Context, id string) error {
	// Bounded: an account deletion must not hang while S3 is down.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.DetachTimeout)
	defer cancel()
	if err := r.awaitDetach(ctx, id); err != nil {
		return err
	}
	// The tenant's path holds every claim's folder: all of them go.
	err := r.removeReplica(ctx, r.target.tenantKey(id))
	r.stats.removals.Add(1)
	if err != nil {
		r.stats.removeFails.Add(1)
		return fmt.Errorf("remove replica of tenant %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.stamps, id)
	r.mu.Unlock()
	return removeMeta(r.cfg.Dir, id)
}

func (r *Replicator) removeReplica(ctx context.Context, key string) error {
	c, err := r.clients.get(ctx, key)
	if err != nil {
		return err
	}
	defer r.clients.put(c)
	return newCountingClient(c, r.stats).DeleteAll(ctx)
}

// hasReplica reports whether the bucket holds a replica at key.
func (r *Replicator) hasReplica(ctx context.Context, key string) (bool, error) {
	c, err := r.clients.get(ctx, key)
	if err != nil {
		return false, err
	}
	defer r.clients.put(c)
	cc := newCountingClient(c, r.stats)
	for _, level := range []int{0, 1, litestream.SnapshotLevel} {
		it, err := cc.LTXFiles(ctx, level, 0, false)
		if err != nil {
			return false, fmt.Errorf("list replica %s: %w", key, err)
		}
		found := it.Next()
		err = errors.Join(it.Err(), it.Close())
		if err != nil {
			return false, fmt.Errorf("list replica %s: %w", key, err)
		}
		if found {
			return true, nil
		}
	}
	return false, nil
}

// restoreInto restores a replica into path through a temporary file in
// tmpDir, then renames it into place and syncs path's folder.
func (r *Replicator) restoreInto(ctx context.Context, key, tmpDir, path string) error {
	tmp := filepath.Join(tmpDir, "restore-"+filepath.Base(path))
	_ = os.Remove(tmp) // a leftover of a crash
	if err := r.restore(ctx, key, tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("make folder: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("move restored file into place: %w", err)
	}
	return tenant.SyncDir(filepath.Dir(path))
}

// RestoreRouting restores routing.db into path (which must not exist)
// through tmpDir; tenant.ErrNoReplica when the bucket holds none.
func (r *Replicator) RestoreRouting(ctx context.Context, path, tmpDir string) error {
	if err := r.restoreInto(ctx, r.target.routingPath(), tmpDir, path); err != nil {
		return fmt.Errorf("restore routing.db: %w", err)
	}
	return nil
}

// RestoreTenant restores tenant id into path (which must not exist)
// through tmpDir; tenant.ErrNoReplica when the bucket holds none. A
// tenant a cluster replicated is restored from its newest claim's path
// (see newestKey).
func (r *Replicator) RestoreTenant(ctx context.Context, id, path, tmpDir string) error {
	key, err := r.newestKey(ctx, id)
	if err != nil {
		return fmt.Errorf("restore tenant %s: %w", id, err)
	}
	if err := r.restoreInto(ctx, key, tmpDir, path); err != nil {
		return fmt.Errorf("restore tenant %s: %w", id, err)
	}
	return nil
}

// HasReplica reports whether the bucket holds a replica of tenant id: in
// a cluster, the one the claim this node holds records as current (see
// Fencing), else the path without a token. It reads a listing, not the
// replica.
func (r *Replicator) HasReplica(ctx context.Context, id string) (bool, error) {
	key := r.target.tenantKey(id)
	if k, err := r.sourceKey(id); err == nil {
		key = k // in a cluster, this node's claim's current replica
	}
	return r.hasReplica(ctx, key)
}

// Forget drops what r keeps locally about tenant id (its Litestream state
// under DATA/replica/), after the tenant's local copy was dropped because
// it was deleted elsewhere; a tenant attached or being detached is left
// alone.
func (r *Replicator) Forget(id string) error {
	r.mu.Lock()
	if r.attached[id] != nil || r.detaching[id] != nil {
		r.mu.Unlock()
		return nil
	}
	delete(r.behind, id)
	delete(r.stamps, id)
	r.mu.Unlock()
	return removeMeta(r.cfg.Dir, id)
}

// LocalStates lists the tenants r keeps local replication state for
// (under DATA/replica/tenants/), attached or not.
func (r *Replicator) LocalStates() ([]string, error) {
	root := filepath.Join(r.cfg.Dir, "replica", "tenants")
	folders, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read replication state: %w", err)
	}
	var ids []string
	for _, f := range folders {
		if !f.IsDir() || len(f.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(root, f.Name()))
		if err != nil {
			return ids, fmt.Errorf("read replication state: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), f.Name()) {
				ids = append(ids, e.Name())
			}
		}
	}
	return ids, nil
}
