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
//
// A single server that lost its writer lease (writer.go) goes further: it
// is cut off from the bucket for good, since another server replicates to
// its prefix now. The databases still attached (routing.db for the whole
// run, the tenants until the fence closes them) keep their monitors, so
// holding is not enough: every write to the bucket (upload, compaction,
// deletion) fails from then on before it reaches S3, and Close detaches
// them without a final sync. (A cluster node's late uploads are harmless,
// under a token nobody reads: fence.go.)

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

// cut holds and makes every later write to the bucket fail at once (see
// above): for good once the writer lease is lost; until uncut while it is
// pending (S3 did not answer at start).
func (r *Replicator) cut() {
	r.stats.cut.Store(true)
	r.Hold()
}

// uncut lets writes reach the bucket again once a pending writer lease is
// taken; the backlogs of the tenants closed meanwhile ship at the next
// compaction tick (catchup.go).
func (r *Replicator) uncut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = false
	r.stats.cut.Store(false)
}
