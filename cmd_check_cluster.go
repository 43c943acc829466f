package main

// cubby check --cluster: what can be checked of a cluster from outside
// its nodes, taking no lease: the directory in etcd, the owner keys and,
// with --replicate-to, that every active user has a replica.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/tenant"
)

// checkCluster audits the cluster at o.cluster (see cluster.Admin.Audit)
// and, with o.replicateTo, looks for each active user's replica; it lists
// every problem and fails if there is one. Tenant files live on the
// nodes' disks: check --data on each node checks those.
func checkCluster(ctx context.Context, o checkOptions, stdout, stderr io.Writer) (err error) {
	if o.stuck <= 0 {
		return &usageError{"--stuck-after must be positive"}
	}
	a, err := openClusterAdmin(ctx, o.cluster)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.Close()) }()
	au, err := a.Audit(ctx, time.Now(), o.stuck)
	if err != nil {
		return err
	}
	problems := au.Problems
	checked := "directory and owner keys"
	if o.replicateTo != "" {
		missing, err := missingReplicas(ctx, a, o.replicateTo, au.Tenants, stderr)
		if err != nil {
			return err
		}
		problems = append(problems, missing...)
		checked += ", replicas"
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	fmt.Fprintf(stdout, "cluster: %d users, %d live nodes, %d owned tenants; checked %s: %d problem(s)\n",
		len(au.Tenants), au.Nodes, au.Owners, checked, len(problems))
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s) found in the cluster at %s", len(problems), o.cluster)
	}
	return nil
}

// missingReplicas lists the active tenants without a replica in the
// bucket at url (a provisioning or failed one may have none yet), each
// looked for under the claim etcd records as holding its current one, and
// the replicas of earlier claims left beside it.
func missingReplicas(ctx context.Context, a *cluster.Admin, url string, ts []tenant.Tenant, stderr io.Writer) (_ []string, err error) {
	tmp, err := os.MkdirTemp("", "cubby-check-")
	if err != nil {
		return nil, fmt.Errorf("make a scratch folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	r, err := replica.Open(ctx, replica.Config{URL: url, Dir: tmp, Logger: commandLog(stderr)})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	var missing []string
	bar := newProgress(stderr, "replicas")
	defer bar.Finish()
	for i, t := range ts {
		bar.Update(i, len(ts))
		if t.State != tenant.StateActive {
			continue
		}
		token, err := a.ReplicaToken(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		ok, err := r.HasReplicaAt(ctx, t.ID, token)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", showName(t.Username), err)
		}
		if !ok {
			missing = append(missing, fmt.Sprintf("user %s: tenant %s has no replica in the bucket", showName(t.Username), t.ID))
		}
		stale, err := staleClaims(ctx, r, t, token)
		if err != nil {
			return nil, err
		}
		missing = append(missing, stale...)
	}
	return missing, nil
}

// staleClaims lists the replica paths of earlier claims of t left in the
// bucket beside the current one (token): never read, and removed with the
// tenant, but they cost storage.
func staleClaims(ctx context.Context, r *replica.Replicator, t tenant.Tenant, token int64) ([]string, error) {
	tokens, err := r.ClaimTokens(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", showName(t.Username), err)
	}
	var out []string
	for _, k := range tokens {
		if k != token {
			out = append(out, fmt.Sprintf("user %s: tenant %s has the replica of an earlier claim (token %d) left in the bucket; the current one is %d",
				showName(t.Username), t.ID, k, token))
		}
	}
	return out, nil
}
