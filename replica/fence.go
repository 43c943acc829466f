package replica

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// In a cluster, each claim of a tenant replicates under a path of its own,
// named by its fencing token (the owner key's etcd revision, which grows
// with every claim):
//
//	PREFIX/tenants/<2 hex>/<id>/<token>     one claim's replica
//	PREFIX/tenants/<2 hex>/<id>             a replica without a token (single node, or a cluster before tokens)
//
// The cluster records which path holds a tenant's current state (a
// pointer in etcd, moved only by the owner and only while its claim
// holds); a new owner restores from that path and replicates into its own.
// A process that wakes up after it lost its claim (a stopped VM, SIGSTOP,
// a GC pause past its lease) can then only upload into its own old path,
// which nobody reads any more: its writes can never mix with a later
// owner's or be restored by anyone.
//
// The pointer moves once the new path holds a replica (its first upload
// reached the bucket: Litestream uploads in order, starting with a full
// snapshot, into a path it starts empty); the superseded path is then
// deleted. Handed moves it before a tenant is given up, so the next owner
// never restores from an older path than the last owner wrote.

// Fencing is what a cluster node tells replication about its claims;
// cluster.Owners is one. Without it (a single node) every tenant
// replicates under the path without a token, as it always has.
type Fencing interface {
	// Token is this process's claim on tenant id: token is its fencing
	// token, source the token of the path that holds the tenant's current
	// replica (0: the path without a token). ok is false when this process
	// holds no claim on id.
	Token(id string) (token, source int64, ok bool)
	// Current records that the replica under token holds the tenant's
	// state now, so that later claims restore from it; it succeeds only
	// while token is still this process's claim. It returns the token of
	// the path it superseded (0: the path without a token).
	Current(ctx context.Context, id string, token int64) (superseded int64, err error)
}

// errNoClaim refuses to replicate a tenant this process holds no claim on.
var errNoClaim = errors.New("replica: no claim on the tenant")

// stamp is the claim a tenant's replication writes under, in a cluster.
type stamp struct {
	token    int64
	uploaded bool          // an upload under token reached the bucket
	settled  bool          // Fencing.Current accepted token
	settling chan struct{} // closed when the settle in flight ends
}

// Fence makes r replicate each tenant under its claim's token (see
// Fencing). Call it before the first Attach.
func (r *Replicator) Fence(f Fencing) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fence = f
}

// tokenKey is where the replica under token lives: the tenant's path, or,
// with a token, the token's folder below it.
func (t target) tokenKey(id string, token int64) string {
	if token == 0 {
		return t.tenantKey(id)
	}
	return t.tenantKey(id) + "/" + strconv.FormatInt(token, 10)
}

// tokenFiles is what deleting the replica under token must remove: the
// token's folder, or, for the path without a token, its LTX files alone
// (the token folders beside them are other claims').
func (t target) tokenFiles(id string, token int64) string {
	if token == 0 {
		return t.tenantKey(id) + "/ltx"
	}
	return t.tokenKey(id, token)
}

// stampFor readies tenant id's replication under this process's claim and
// returns the key to write to: a claim other than the one its local state
// was made under starts afresh (its local state is forgotten, so the first
// upload is a full snapshot into the new, empty path). Without Fencing it
// is the path without a token and no stamp.
func (r *Replicator) stampFor(ctx context.Context, id string) (string, *stamp, error) {
	r.mu.Lock()
	f := r.fence
	if f == nil {
		r.mu.Unlock()
		return r.target.tenantKey(id), nil, nil
	}
	token, source, ok := f.Token(id)
	if !ok {
		r.mu.Unlock()
		return "", nil, errNoClaim
	}
	st := r.stamps[id]
	// A new claim whose current replica is the path this process last
	// wrote the tenant to (nobody else has made a newer one since) goes on
	// writing there: its local state matches that path, and only this
	// process, which holds the data directory's lock, writes it. An
	// eviction and a reopen then cost no new snapshot.
	fresh := st == nil || (st.token != token && source != st.token)
	if !fresh && st.token != token {
		st.settled = true // the pointer names it already
	}
	if fresh {
		st = &stamp{token: token}
		r.stamps[id] = st
		delete(r.behind, id) // its backlog belongs to an older claim's path
	}
	r.mu.Unlock()
	if fresh {
		if err := r.awaitDetach(ctx, id); err != nil {
			return "", nil, err
		}
		if err := removeMeta(r.cfg.Dir, id); err != nil {
			return "", nil, err
		}
	}
	return r.target.tokenKey(id, st.token), st, nil
}

// onUpload returns what a successful upload under st does: the first one
// settles st in the background. Nil without a stamp.
func (r *Replicator) onUpload(id string, st *stamp) func() {
	if st == nil {
		return nil
	}
	return func() {
		r.mu.Lock()
		if st.uploaded || r.closed {
			st.uploaded = true
			r.mu.Unlock()
			return
		}
		st.uploaded = true
		r.wg.Add(1)
		r.mu.Unlock()
		go func() {
			defer r.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.DetachTimeout)
			defer cancel()
			if err := r.settle(ctx, id, st); err != nil {
				r.log.Warn("tenant's new replica not recorded yet; retried when it is handed off", "tenant", id, "err", err)
			}
		}()
	}
}

// settle makes the replica under st the tenant's current one (see
// Fencing.Current), once, and deletes the path it superseded. A settle in
// flight is waited for.
func (r *Replicator) settle(ctx context.Context, id string, st *stamp) error {
	for {
		r.mu.Lock()
		if st.settled {
			r.mu.Unlock()
			return nil
		}
		ch := st.settling
		if ch == nil {
			st.settling = make(chan struct{})
			ch = st.settling
			f := r.fence
			r.mu.Unlock()
			err := r.settleNow(ctx, f, id, st)
			r.mu.Lock()
			st.settled = err == nil
			st.settling = nil
			r.mu.Unlock()
			close(ch)
			return err
		}
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// settleNow moves the pointer to st's token and deletes the path it
// superseded (a failure there leaves garbage nobody reads, which the
// tenant's deletion removes).
func (r *Replicator) settleNow(ctx context.Context, f Fencing, id string, st *stamp) error {
	old, err := f.Current(ctx, id, st.token)
	if err != nil {
		return fmt.Errorf("record tenant %s's replica under token %d: %w", id, st.token, err)
	}
	if old == st.token || old > st.token {
		return nil
	}
	if err := r.removeReplica(ctx, r.target.tokenFiles(id, old)); err != nil {
		r.log.Warn("superseded replica not deleted; it is never read, and goes with the tenant", "tenant", id, "token", old, "err", err)
	} else {
		r.stats.superseded.Add(1)
	}
	return nil
}

// handedFenced is Handed's part in a cluster: the tenant's current claim,
// if it replicated anything, has its replica recorded as current before
// the claim is given up.
func (r *Replicator) handedFenced(ctx context.Context, id string) error {
	r.mu.Lock()
	f, st := r.fence, r.stamps[id]
	r.mu.Unlock()
	if f == nil || st == nil {
		return nil
	}
	if token, _, ok := f.Token(id); !ok || token != st.token {
		return nil // this claim never replicated: the current replica is elsewhere
	}
	r.mu.Lock()
	uploaded := st.uploaded
	r.mu.Unlock()
	if !uploaded {
		return fmt.Errorf("hand off tenant %s: nothing of it reached the bucket under token %d", id, st.token)
	}
	if err := r.settle(ctx, id, st); err != nil {
		return fmt.Errorf("hand off tenant %s: %w", id, err)
	}
	return nil
}

// sourceKey is where tenant id's current replica is read from: the path
// the cluster's pointer names, or the path without a token.
func (r *Replicator) sourceKey(id string) (string, error) {
	r.mu.Lock()
	f := r.fence
	r.mu.Unlock()
	if f == nil {
		return r.target.tenantKey(id), nil
	}
	_, source, ok := f.Token(id)
	if !ok {
		return "", errNoClaim
	}
	return r.target.tokenKey(id, source), nil
}

// HasReplicaAt reports whether the bucket holds a replica of tenant id
// under token (0: the path without a token), for cubby check --cluster.
func (r *Replicator) HasReplicaAt(ctx context.Context, id string, token int64) (bool, error) {
	return r.hasReplica(ctx, r.target.tokenKey(id, token))
}
