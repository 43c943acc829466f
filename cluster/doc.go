// Package cluster is the etcd side of running cubby on several nodes
// (issue 16): membership and tenant ownership through leases, the routing
// directory and the sessions in etcd, and forwarding a request to the node
// that owns its tenant. It is not wired into serve or the router yet; see
// "What wiring remains" below.
//
// # Parts
//
//   - [Node] (node.go, lease.go): one etcd client, one lease, a
//     registration, a [Node.Lost] channel. [Open] connects to the endpoints
//     of an etcd://HOST:PORT[,HOST:PORT…] URL ([ParseURL]).
//   - Ownership (owner.go): [Node.Claim], [Node.Release], [Node.Owner].
//   - [Directory] (directory.go, dirview.go): username → tenant id, state,
//     schema version; the twin of tenant.Directory.
//   - [Sessions] (sessions.go, sessionview.go): an scs.Store, the twin of
//     auth.SessionStore.
//   - [Forwarder] (forward.go): a reverse proxy to the owner's advertise URL;
//     [Hop] (hop.go) signs the client address it vouches for, so the owner
//     believes it and nobody else's X-Forwarded-For.
//   - [Counts] (counts.go, buckets.go): the login throttle's and the signup
//     limit's counts, an auth.Counter; [Node.Secret] (secrets.go): the
//     device-cookie and forward keys every node shares.
//   - mirror (mirror.go): a prefix read once and then followed by a watch;
//     every cache above is one.
//   - clustertest: an embedded etcd and a cuttable TCP link, for tests. It is
//     the only importer of etcd's server, so cubby's binary links the client
//     alone.
//
// # Keys
//
// Everything lives under one prefix (default /cubby):
//
//	/cubby/nodes/<node-id>                      {"id","advertise"}          node lease
//	/cubby/owner/<tenant-id>                    <node-id>                   owner's node lease
//	/cubby/users/<username>                     tenant record (JSON)        none
//	/cubby/ids/<tenant-id>                      <username>                  none
//	/cubby/sessions/<hex sha256(token)>         {"tenant","data","expires_ms"}  hour-bucket lease
//	/cubby/session-tenants/<tenant-id>/<digest> ""                          same lease as the session
//	/cubby/counts/<hex sha256(name)>            {"opened_ms","n"}           five-minute-bucket lease
//	/cubby/secrets/device-key                   32 bytes                    none
//	/cubby/secrets/forward-key                  32 bytes                    none
//	/cubby/last-owner/<tenant-id>               <node-id>                   none
//	/cubby/replica/<tenant-id>                  <token> (decimal)           none
//
// A node's registration and every owner key it holds hang on its one
// lease, so when the lease ends (expiry or revoke) etcd deletes them in
// one step: nobody ever sees a tenant owned by a node that is not
// registered. A user's record and id index are written and deleted
// together, in one transaction. Session keys carry the lease of the hour
// in which they expire (see [Sessions]), so etcd removes dead sessions
// itself; their deadlines are also checked on every read, which is what
// makes expiry exact.
//
// Why session expiry is a deadline checked on read, not a lease per
// session: an etcd lease can only be renewed to its full TTL, never moved to
// a chosen deadline, so a session's idle deadline moving forward would
// need a new lease granted, the key rewritten under it and the old one
// revoked — three requests where a put does — and every node would hold
// keep-alive state for sessions it did not make. A deadline in the value
// is exact, costs nothing to check, and is the same rule
// auth.SessionStore keeps. The shared hour-bucket leases only do the
// garbage collection that auth.SessionStore's sweeper does, with one grant
// per node per hour and no node in charge of sweeping.
//
// # How watches keep the caches true
//
// A mirror reads its prefix at some revision R and then watches from R+1.
// etcd delivers every later change under the prefix exactly once and in
// revision order, so the copy is always the prefix as of some revision, a
// network delay behind. If the watch breaks or R was compacted away, the
// mirror reads the prefix afresh and watches again. Every third of the
// lease TTL it asks the server for a progress report and reads the store's
// revision (a linearizable read of one absent key): if the copy already
// holds that revision, it was current when the read was sent. (The read is
// needed because etcd answers a progress request only once its revision
// has reached every watch's start revision, which in a cluster with no
// writes it never does.) A copy not proven current within a TTL is not
// trusted, and reads then go to etcd (which, if the node is cut off,
// fails: the node has lost its lease by then anyway).
//
// A write this node makes waits until its own mirror has seen the write's
// revision (Create, SetState, Remove, Release), so a read on the writing
// node right after sees it. Another node sees it a watch delay later
// (about 3 ms on loopback, see BENCHMARKS.md); a miss is never trusted as
// "absent": Lookup and Get ask etcd on a miss, so a user who signed up on
// node A a moment ago can sign in on node B.
//
// The session cache holds only some sessions. An entry read from etcd at
// revision G is cached only if the watch has applied no change after G
// (else a delete it already applied could be undone by the late insert);
// a cached entry is replaced only by a newer revision. The idle deadline
// moves in memory and is written with a transaction that requires the
// key's revision to be unchanged, so a refresh never revives a session
// logged out elsewhere.
//
// The hot path of a request — the owner of a tenant held by this or
// another node, a username, a tenant id, a cached session — makes no etcd
// request (tests count them: TestOwnedTenantClaimMakesNoRoundTrip,
// TestDirectoryHitMakesNoRoundTrip).
//
// # Fencing
//
// A tenant is served by at most one node at a time because:
//
//  1. A node opens a tenant's file only after [Node.Claim] succeeded: a
//     transaction that creates /owner/<id> with the node's lease only if the
//     key does not exist (CreateRevision == 0). etcd's serialisable
//     transactions make that one winner.
//  2. The key lives until the node deletes it ([Node.Release], after it
//     closed the handle and synced the last changes to the bucket) or until
//     its lease ends. Release deletes only if the key's revision is still
//     the one the claim returned and it still carries this node's lease.
//  3. The node renews its lease with KeepAliveOnce three times per safe
//     window (below) and notes when each successful renewal was sent. etcd counts the TTL from when
//     it handles the renewal, which is after it was sent, so the lease
//     cannot expire before sent+TTL. The node closes [Node.Lost] at
//     sent+SafetyFraction×TTL (default half) if no later renewal succeeded,
//     or at once if etcd says the lease is gone. Each renewal attempt is
//     bounded by that deadline, so a hung connection cannot delay it.
//  4. Whoever serves tenants must stop at once when Lost closes and close
//     their handles within the remaining (1−SafetyFraction)×TTL, 5 s by
//     default. Only after the TTL can etcd expire the lease and delete the
//     owner key, and only then can another node's claim succeed.
//
// The owner key's revision is the fencing token ([Ownership].Token): etcd's
// revision grows with every write, so every new claim of a tenant carries a
// larger token than any earlier claim of it. Replication stamps it on
// storage: each claim replicates the tenant into a path of the bucket named
// by its token, and /replica/<id> names the claim whose replica is current
// (replica.go). Only the owner moves that pointer, in a transaction that
// requires its claim to still hold, once its first upload is in the bucket
// (and at the latest before it gives the tenant up); a new claim reads it
// in the claim transaction ([Ownership].Source) and restores from exactly
// that path. A process paused past its lease (a GC pause, a stopped VM,
// SIGSTOP) — the one case rule 4 cannot cover by itself — can then only
// upload into its own old path, which no later owner reads
// (TestAFrozenOwnerWakingUpCannotForkTheReplica).
// TestCutOffNodeStopsBeforeItsTenantsCanMove cuts a node off from etcd
// and checks the order: Lost closes, the other node's claim transaction
// still finds the tenant owned, the lease expires, the claim succeeds with
// a larger token.
//
// # How cubby uses it
//
// serve --cluster (cmd_serve_cluster.go) opens the data directory with
// datadir.Options.Cluster: datadir joins the cluster ([Open], then
// [OpenDirectory] and [OpenSessions]) and gives the pool the [Directory]
// as its tenant.Routing and an [Owners] as its tenant.Owners; auth and the
// router take the [Sessions] as their auth.SessionBackend. The pool claims
// a tenant before it opens the file ([Owners.Claim]: an
// *tenant.ElsewhereError names another owner; a tenant this node was not
// the last owner of is restored from the bucket, see Ownership.Previous)
// and, after closing the handle, [Owners.Release] waits for the final sync
// to reach the bucket before [Node.Release]. The router answers a
// tenant.ElsewhereError by passing the request to the owner with a
// [Forwarder] (it keeps each request's body in cluster mode for that).
// datadir fences the pool (tenant.Pool.Fence) as soon as [Node.Lost]
// closes, and holds replication (a fenced node ships nothing more to the
// bucket). It gives the [Owners] to replication as its replica.Fencing
// (each claim replicates under its token; see Fencing), and sweeps the
// local copies of deleted tenants and the signups stuck provisioning
// (datadir/sweep.go). Close order: sessions, pool, owners (hand-offs in
// flight), replication, directory, node.
//
// # Rejoining
//
// A fenced node does not stay fenced: once the pool has closed every
// handle it opened under the lost lease (tenant.Pool.Drained), datadir
// calls [Node.Rejoin], with a growing back-off, until etcd answers. Rejoin
// grants a new lease (a new term: Lost and Err describe it from then on),
// revokes the lost one (its owner keys go at once, if etcd still had
// them), registers the node id under the new lease if no live process
// holds it (else [ErrNodeIDInUse], for good: serve exits), and waits until
// the owner and node caches hold the registration's revision; its ready
// callback brings the directory and sessions to that revision too
// ([Directory.Current], [Sessions.Current]), drops the Owners' claims of
// the lost term ([Owners.Forget]) and the replicator's held backlogs. Then
// the pool is unfenced and claims each tenant anew: a claim's Previous
// says whether another node owned it meanwhile, and if so the bucket's
// copy replaces the local one. Nothing held under a lost term counts: its
// ownerships are never Mine and releasing one is [ErrNotOwner].
//
// # What remains
//
//   - check does not take --cluster (users does, through [Admin];
//     delete-user does, as a throwaway node; the operator page shows
//     [Node.Nodes] and [Node.OwnedCounts]).
//   - A statement already running when the pool is fenced is not
//     interrupted: it may commit to the local copy (never shipped: the
//     replicator is held) after the lease has expired. The router does not
//     acknowledge such a change (503: it may not have been saved).
//   - Local copies of tenants a node gave up are kept (a quick retake when
//     it was the last owner); the node drops them once the tenant is
//     deleted, at its next sweep (datadir/sweep.go: at start, every minute
//     and on a watched deletion), which also removes signups stuck
//     provisioning ([Directory.SweepStuck]).
//   - Paths of earlier claims left in the bucket (a superseded path whose
//     deletion failed, or one a paused process wrote to after it was
//     deleted) are never read and go when the tenant is deleted;
//     check --cluster --replicate-to lists them, nothing removes them
//     sooner.
package cluster
