// Package tenant gives every user a SQLite database file of their own.
//
// A [Directory] is the central routing.db ([RoutingFile]): it maps each
// username to a random tenant id and records the tenant's state and schema
// version. A [Pool] keeps the tenant files: it provisions new ones
// ([Pool.Provision]), applies the caller's migrations ([Config].Migrations,
// read by [ParseMigrations]) to a file when it opens it or to every tenant at
// once ([Pool.MigrateAll]), keeps a bounded LRU of open handles, and deletes
// a tenant ([Pool.Delete]) or copies it out scrubbed by the caller
// ([Pool.Export]). Opening a data directory as a whole (its lock, the
// Directory, the Pool) is the application's job.
// [Pool.Acquire] hands out a request-scoped [Store] for one tenant and a
// release function; a caller can reach no other tenant's file through it.
// Every query a Store runs is prepared once per open handle and reused:
// the handle keeps up to 64 statements by their text and closes them just
// before it closes itself (eviction, idle close, a lost file, Delete,
// Close), so a statement never outlives its handle or serves another
// tenant. A handle has one connection; one that has served 32 requests
// and finds it busy borrows a second, read-only one (at most a quarter of
// MaxOpen handles at once) for its plain SELECTs, so one user's
// overlapping reads do not queue: state that belongs to one connection
// (temporary tables, last_insert_rowid) is therefore kept only within a
// [Store.Tx]. The Directory keeps the rows it looked up by id, written
// through, so that a pool miss does not query routing.db.
//
// On disk, under the data directory:
//
//	routing.db                 the Directory
//	tenants/3f/3f9c…e1.db      one file per tenant, named by its id alone
//	tmp/                       snapshots in flight, swept by Recover
//	orphans/                   tenant files found without a routing row
//
// The username never becomes part of a path. Tenant files are created 0600
// with O_EXCL before SQLite touches them and are always opened with mode=rw,
// so a missing file is reported as [ErrUnavailable] and never silently
// recreated empty. A file removed or replaced under an open handle is
// noticed by the pool's background check ([Pool.CheckFiles]) within about a
// second, and its tenant is unavailable from then on rather than writing
// into a file that is gone.
//
// Every open handle costs file descriptors, so [CheckFileLimit] and
// [MaxClients] size the pool and the connections against the process's
// limit, and running out anyway is [ErrBusy] (try again), never a broken
// tenant; a write a full disk has no room for is [ErrFull], with nothing
// of it written; [MarkBusy] gives callers' own queries on routing.db the
// same meanings.
//
// Three tools for operators work on a data directory by its path, with no
// Pool: [Backup] mirrors it into a folder (each file a consistent snapshot)
// with a manifest of checksums, [Restore] puts a verified backup into an
// empty data directory, and [Check] reports damaged files, rows without
// files and files without rows. Backup and Check only read, opening every
// file with mode=ro, so they run beside a live server; [TenantSize] and
// [OpenDirectoryReadOnly] serve listings the same way.
//
// A [Replicator] in [Config] (package replica is one, to S3 with
// Litestream) is called at the edges of a handle's life only: attached when
// the pool opens a tenant (after its migrations) and when it provisions one,
// detached after the handle closes, asked to restore a missing file before
// the pool gives up on it, and told when a tenant is deleted. What it costs
// thus follows the open handles, and a pool without one does no extra work.
//
// [Directory.Walk] is the one way to go through every tenant: a page of
// rows at a time, in username order, stopping when the context ends.
//
// The package knows nothing of HTTP, sessions, command-line flags or any
// one application: the schema and what to write into a new file come from
// the caller, and its errors name no flag (a [FileLimitError] says how many
// handles fit; the caller names the setting that asked for more).
package tenant
