package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cubbyhq/cubby/tenant"
)

// SweepStuck removes the records of tenants provisioning since before
// now-after: a signup that crashed mid-way leaves its record so, and the
// username taken, for ever. Candidates come from the watched copy (no
// round trip when there are none); each is read again from etcd and
// removed (record, id index, last owner, replica pointer) in one
// transaction that requires the record's revision to be the one read, so
// that of several nodes sweeping at once one wins, and a signup that
// completed meanwhile (its record rewritten as active) is never removed.
// It returns the tenants it removed; their replicas and local files are
// the caller's to remove.
func (d *Directory) SweepStuck(ctx context.Context, after time.Duration) ([]tenant.Tenant, error) {
	cutoff := d.now().Add(-after)
	var removed []tenant.Tenant
	var errs []error
	for _, cand := range d.v.provisioningSince(cutoff) {
		t, ok, err := d.removeStuck(ctx, cand.Username, cutoff)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			removed = append(removed, t)
		}
	}
	return removed, errors.Join(errs...)
}

// removeStuck removes username's record if etcd has it provisioning since
// before cutoff, compared on the revision it was read at.
func (d *Directory) removeStuck(ctx context.Context, username string, cutoff time.Time) (tenant.Tenant, bool, error) {
	resp, err := d.cli.Get(ctx, d.keys.user(username))
	if err != nil {
		return tenant.Tenant{}, false, fmt.Errorf("cluster: read stuck tenant %s: %w", username, err)
	}
	if len(resp.Kvs) == 0 {
		return tenant.Tenant{}, false, nil
	}
	kv := resp.Kvs[0]
	var r record
	if err := json.Unmarshal(kv.Value, &r); err != nil || r.State != tenant.StateProvisioning ||
		!r.UpdatedAt.Before(cutoff) || !validTenantID(r.ID) {
		return tenant.Tenant{}, false, nil // not stuck (or not ours to judge)
	}
	tx, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
		Then(clientv3.OpDelete(string(kv.Key)), clientv3.OpDelete(d.keys.id(r.ID)),
			clientv3.OpDelete(d.keys.lastOwner(r.ID)), clientv3.OpDelete(d.keys.replica(r.ID))).
		Commit()
	if err != nil {
		return tenant.Tenant{}, false, fmt.Errorf("cluster: remove stuck tenant %s: %w", username, err)
	}
	if !tx.Succeeded {
		return tenant.Tenant{}, false, nil // changed meanwhile: finished, or swept by another node
	}
	if err := d.m.waitFor(ctx, tx.Header.Revision); err != nil {
		return tenant.Tenant{}, false, fmt.Errorf("cluster: remove stuck tenant %s: %w", username, err)
	}
	return r.tenant(), true, nil
}

// Removed receives a value (at most one waiting) whenever the watch sees a
// tenant's record deleted, so that a node can sweep the local copies of
// deleted tenants at once rather than at its next periodic sweep.
func (d *Directory) Removed() <-chan struct{} { return d.v.removed }
