// Package datadir owns an open data directory: the writer's lock,
// routing.db, the session table, the device-cookie key, the pool of tenant
// files and the accounts kept in them. [Open] opens them in that order for
// a process that writes (serve, and the commands that change data), and
// [DataDir.Close] closes them in reverse and says what went wrong.
// [OpenReadOnly] is for the commands that run beside a live server (users,
// check, backup): no lock, nothing written. [Restore] fills an empty data
// directory under the lock.
//
// Everything that opens a data directory goes through here: serve, every
// command and the test rigs, so a new table, a new command or replication
// is wired in one place (replication belongs in Open, beside routing.db
// and the pool it follows, and in Close, before them).
//
// A refused open leaves the directory exactly as it was: what Open made
// (the folder, .lock, a new routing.db, tenants/, tmp/, orphans/) is taken
// back (see leftovers). A command that fails after Open gets the same by
// ending with [DataDir.Done].
package datadir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/tenant"
)

// Options are how Open opens a data directory.
type Options struct {
	// Migrations are the per-tenant schema (see tenant.ParseMigrations);
	// required.
	Migrations []tenant.Migration
	// Create makes the data directory (and its parents) when it is
	// missing; only serve does. Without it a missing directory, or one
	// without a routing.db, is refused as a wrong path.
	Create bool
	// Recover cleans up after a crash before anything is served: tenants
	// left half-made, files without a routing row, snapshots in tmp/.
	Recover bool
	// Logger receives what the accounts and the crash sweep report
	// (default slog.Default()).
	Logger *slog.Logger
	// Pool configures the pool of tenant files; Dir and Migrations are
	// filled in, Durable applies to routing.db too, Logger defaults to
	// the Logger above, and Verify to auth.VerifyFile.
	Pool tenant.Config
	// Sessions configures the session store on routing.db.
	Sessions auth.SessionStoreConfig
	// Hasher hashes passwords (default argon2id with auth.DefaultParams,
	// GOMAXPROCS at once).
	Hasher *auth.Hasher
	// Throttle sets the login throttle's limits (zero: the defaults).
	Throttle auth.ThrottleConfig
	// SignupClosed refuses every signup.
	SignupClosed bool
	// SignupLimit is accounts per client address per hour (0: no limit).
	SignupLimit int
	// Replicate, when its URL is set, replicates routing.db for the whole
	// run and each tenant while it is open, and restores what is missing
	// (see package replica); Dir is filled in and Logger defaults to the
	// Logger above.
	Replicate replica.Config
	// DeleteWait bounds an account deletion's wait for the account's other
	// requests (zero: auth.DefaultDeleteWait).
	DeleteWait time.Duration
	// Cluster, if set, makes the directory one node of a cluster (see
	// Cluster); Replicate is then required, routing.db is not replicated
	// and Recover only sweeps tmp/ (the tenants are the cluster's).
	Cluster *Cluster
}

// DataDir is an open data directory, held under its lock.
type DataDir struct {
	path      string
	lock      *Lock
	routing   *tenant.Directory
	repl      *replica.Replicator // nil without Options.Replicate
	pool      *tenant.Pool
	sessions  *auth.SessionStore
	accounts  *auth.Accounts
	deviceKey []byte
	recovered tenant.RecoverReport
	left      *leftovers
	cl        *clustered  // nil unless Options.Cluster
	sa        *standalone // nil unless a single server replicates (writer.go)
	log       *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// Open opens the data directory at path to write, taking its lock, and
// opens routing.db (making it, with its session table and device-cookie
// key, when it is missing), the pool and the accounts. When it fails, the
// directory is left as it found it.
func Open(ctx context.Context, path string, o Options) (_ *DataDir, err error) {
	if len(o.Migrations) == 0 {
		return nil, errors.New("open data directory: no migrations")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Pool.Logger == nil {
		o.Pool.Logger = o.Logger
	}
	d := &DataDir{path: path, left: noteDataDir(path), log: o.Logger}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.Close())
			d.left.takeBack() // after Close has released the lock
		}
	}()
	if err := prepare(path, o.Create); err != nil {
		return nil, err
	}
	if d.lock, err = TakeLock(path); err != nil {
		return nil, err
	}
	if o.Cluster == nil { // before anything reaches the bucket (see role.go)
		if err := refuseClusterDir(path); err != nil {
			return nil, err
		}
	}
	if err := d.openReplication(ctx, o); err != nil {
		return nil, err
	}
	if err := d.openRouting(ctx, o.Pool.Durable); err != nil {
		return nil, err
	}
	pc := o.Pool
	pc.Dir, pc.Migrations = path, o.Migrations
	if pc.Verify == nil {
		pc.Verify = auth.VerifyFile // a file at a user's path is that user's
	}
	if d.repl != nil {
		if o.Cluster == nil {
			if err := d.repl.StartRouting(ctx, routingPath(path)); err != nil {
				return nil, err
			}
		}
		pc.Replicator = d.repl
	}
	var routing tenant.Routing = d.routing
	if o.Cluster != nil {
		// Before the sweeps can take a single server's files (role.go).
		if err := d.refuseSingleDir(ctx, o.Cluster.Node.NodeID); err != nil {
			return nil, err
		}
		if err := d.joinCluster(ctx, o.Cluster, o); err != nil {
			return nil, err
		}
		routing, pc.Owners = d.cl.dir, d.cl.owners
	}
	if d.pool, err = tenant.NewPool(routing, pc); err != nil {
		return nil, err
	}
	if d.cl == nil {
		d.sessions = auth.NewSessionStore(d.routing.DB(), o.Sessions)
		if d.repl != nil {
			d.watchWriter()
		}
	} else {
		d.watchLease()
		d.startSweeps(o.Cluster)
	}
	if err := d.recover(ctx, o); err != nil {
		return nil, err
	}
	d.accounts = newAccounts(d, o)
	return d, nil
}

// recover runs the crash sweep when o asks for it: the whole of it on a
// single node; on a cluster node only tmp/ (the tenants and their rows
// are the cluster's, not this directory's).
func (d *DataDir) recover(ctx context.Context, o Options) (err error) {
	switch {
	case !o.Recover:
		return nil
	case d.cl != nil:
		d.recovered.TmpRemoved, err = d.pool.SweepTmp()
		return err
	default:
		d.recovered, err = recoverPool(ctx, d.pool, o.Logger)
		return err
	}
}

// openReplication starts the replicator when o asks for one, and, on a
// single server, takes the prefix's writer lease and readies routing.db:
// restored when missing and replicated, refused when the prefix holds
// another data directory's.
func (d *DataDir) openReplication(ctx context.Context, o Options) (err error) {
	if o.Replicate.URL == "" {
		return nil
	}
	if o.Cluster != nil {
		// Every node replicates its tenants to one bucket prefix; each
		// node's routing.db holds only its device key and stays local.
		rc := o.Replicate
		rc.Dir = d.path
		if rc.Logger == nil {
			rc.Logger = o.Logger
		}
		d.repl, err = replica.Open(ctx, rc)
		return err
	}
	rc := o.Replicate
	rc.Dir = d.path
	if rc.Logger == nil {
		rc.Logger = o.Logger
	}
	if d.repl, err = replica.Open(ctx, rc); err != nil {
		return err
	}
	// Before anything is restored from the bucket or uploaded to it: only
	// one single server replicates to a prefix at a time (writer.go).
	if err := d.repl.TakeWriter(ctx); err != nil {
		return err
	}
	return d.repl.PrepareRouting(ctx, routingPath(d.path), filepath.Join(d.path, "tmp"))
}

// prepare makes the directory when create is set, and otherwise checks
// that it is one.
func prepare(path string, create bool) error {
	if !create {
		return requireDataDir(path)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return fmt.Errorf("make data directory: %w", err)
	}
	return nil
}

// openRouting opens routing.db with its session table and device key.
func (d *DataDir) openRouting(ctx context.Context, durable bool) (err error) {
	var opts []tenant.DirectoryOption
	if durable {
		opts = append(opts, tenant.DurableDirectory())
	}
	if d.routing, err = tenant.OpenDirectory(ctx, routingPath(d.path), opts...); err != nil {
		return err
	}
	if err := auth.CreateSessionTable(ctx, d.routing.DB()); err != nil {
		return err
	}
	d.deviceKey, err = auth.LoadDeviceKey(ctx, d.routing.DB())
	return err
}

// newAccounts builds the accounts kept in d's tenant files.
func newAccounts(d *DataDir, o Options) *auth.Accounts {
	h := o.Hasher
	if h == nil {
		h = auth.NewHasher(auth.DefaultParams(), 0)
	}
	tc := o.Throttle
	tc.Counter = d.counter()
	return auth.NewAccounts(auth.AccountsConfig{
		Pool: d.pool, Hasher: h, Throttle: auth.NewThrottle(tc), Sessions: d.SessionBackend(),
		SignupClosed: o.SignupClosed, SignupLimit: o.SignupLimit, Counter: tc.Counter, DeleteWait: o.DeleteWait, Logger: o.Logger,
	})
}

// Path is the data directory's path, as given to Open.
func (d *DataDir) Path() string { return d.path }

// Routing is routing.db.
func (d *DataDir) Routing() *tenant.Directory { return d.routing }

// Pool is the pool of tenant files.
func (d *DataDir) Pool() *tenant.Pool { return d.pool }

// Sessions is the session store on routing.db.
func (d *DataDir) Sessions() *auth.SessionStore { return d.sessions }

// Accounts are the accounts kept in the tenant files.
func (d *DataDir) Accounts() *auth.Accounts { return d.accounts }

// DeviceKey signs device cookies; it is kept in routing.db, or on a
// cluster node in etcd, shared by every node (shared.go).
func (d *DataDir) DeviceKey() []byte { return d.deviceKey }

// Replicator is the replicator, or nil when the directory is not
// replicated.
func (d *DataDir) Replicator() *replica.Replicator { return d.repl }

// Recovered is what Open's crash sweep found (empty without
// Options.Recover).
func (d *DataDir) Recovered() tenant.RecoverReport { return d.recovered }

// Close closes the session store, the pool, routing.db and replication
// (final syncs), then releases
// the lock, and returns every failure joined. It is safe to call twice; the
// second call returns what the first did.
func (d *DataDir) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		if d.sessions != nil {
			errs = append(errs, wrap("close session store", d.sessions.Close()))
		}
		if d.cl != nil {
			errs = append(errs, d.cl.closeFirst())
		}
		if d.sa != nil {
			d.sa.closeFirst()
		}
		if d.pool != nil {
			errs = append(errs, wrap("close pool", d.pool.Close()))
		}
		if d.cl != nil { // the hand-offs wait for final syncs
			errs = append(errs, d.cl.closeOwners())
		}
		if d.routing != nil {
			errs = append(errs, wrap("close routing db", d.routing.Close()))
		}
		if d.repl != nil { // after the handles: the final syncs see every write
			errs = append(errs, wrap("close replication", d.repl.Close()))
		}
		if d.cl != nil { // last: the lease covers the tenants until they are shipped
			errs = append(errs, d.cl.closeLast())
		}
		if d.lock != nil {
			errs = append(errs, d.lock.Release())
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// Done ends a command that opened d and ends with *errp: it closes d,
// joins what went wrong into *errp, and when *errp is then set takes back
// what Open made, so that a refused command leaves the directory as it
// was. Defer it right after Open.
func (d *DataDir) Done(errp *error) {
	*errp = errors.Join(*errp, d.Close())
	if *errp != nil {
		d.left.takeBack()
	}
}

// wrap wraps err, if any, with the step that failed.
func wrap(step string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", step, err)
}

// routingPath is the data directory's routing.db.
func routingPath(dir string) string { return filepath.Join(dir, tenant.RoutingFile) }

// requireDataDir checks that dir is an existing data directory. Only serve
// makes one, so anywhere else a missing folder or routing.db means the path
// points at the wrong place, and making them would hide that.
func requireDataDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("data directory %s does not exist (only serve makes one; check --data or CUBBY_DATA)", dir)
	case err != nil:
		return fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("data directory %s is not a folder", dir)
	}
	_, err = os.Stat(routingPath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s holds no %s, so it is not a cubby data directory (check --data or CUBBY_DATA)", dir, tenant.RoutingFile)
	}
	return err
}
