package replica

// A cluster node that lost its lease may no longer own the tenants it
// closed: another node may have claimed one, restored it from the bucket
// and be replicating it to the same key. A final sync or a backlog shipped
// by the old owner then (a final sync retrying until S3 answers again, a
// backlog once it does) would write the old owner's frames into the new
// owner's replica, which then restores as a malformed file. So a fenced
// node holds its replication: final syncs in flight end, tenants closed
// from then on are detached without one, and no backlog ships. When it
// rejoins it drops the backlogs: a tenant it reopens as its last owner
// ships its local state the ordinary way; one another node wrote meanwhile
// is restored from the bucket, the newer copy. What the last sync interval
// before the fence held is lost if another node takes the tenant, as in a
// crash (the replication window).

// Hold ships nothing more (final syncs and backlog shipments in flight end
// at once) until Resume.
func (r *Replicator) Hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = true
	for _, dt := range r.detaching {
		dt.abort()
	}
}

// Resume forgets the backlogs held (see above) and lets new ones ship.
func (r *Replicator) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = false
	clear(r.behind)
}
