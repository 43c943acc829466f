package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cubbyhq/cubby/tenant"
)

// casAttempts is how many times SetState re-reads a record that another
// writer changed under it before giving up.
const casAttempts = 5

// Directory is the cluster's routing directory, the etcd twin of
// tenant.Directory: username → tenant id, state, schema version. Each
// tenant is one record at <prefix>/users/<username> (JSON) and an index
// key <prefix>/ids/<id> = username; both are written in one transaction.
// Reads come from a watch-fed copy of every record, so a hit makes no
// round trip; a miss asks etcd, so a tenant made on another node a moment
// ago is found.
type Directory struct {
	cli  *clientv3.Client
	keys keys
	v    *dirView
	m    *mirror
	// stale is how long without word from the watch the copy is trusted.
	stale time.Duration
	now   func() time.Time
}

// OpenDirectory reads the directory into memory and keeps it true until
// Close. Close it before the node.
func OpenDirectory(ctx context.Context, n *Node) (*Directory, error) {
	d := &Directory{cli: n.cli, keys: n.keys, v: newDirView(n.keys.users()), stale: n.cfg.LeaseTTL, now: time.Now}
	m, err := startMirror(ctx, n.cli, n.keys.users(), d.v, n.cfg.LeaseTTL/3, false)
	if err != nil {
		return nil, fmt.Errorf("cluster: open directory: %w", err)
	}
	d.m = m
	return d, nil
}

// Close stops the watch. It is safe to call twice; nothing it does fails.
func (d *Directory) Close() error {
	d.m.close()
	return nil
}

// Ping checks that etcd answers (a linearizable read of one absent key).
func (d *Directory) Ping(ctx context.Context) error {
	if _, err := d.cli.Get(ctx, d.keys.id(""), clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("cluster: ping etcd: %w", err)
	}
	return nil
}

// Directory is a tenant.Routing.
var _ tenant.Routing = (*Directory)(nil)

// record is a tenant as stored in etcd.
type record struct {
	ID            string       `json:"id"`
	Username      string       `json:"username"`
	State         tenant.State `json:"state"`
	SchemaVersion int          `json:"schema_version"`
	Error         string       `json:"error,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
}

func (r record) tenant() tenant.Tenant { return tenant.Tenant(r) }

func decodeRecord(b []byte) (tenant.Tenant, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return tenant.Tenant{}, fmt.Errorf("decode tenant record: %w", err)
	}
	return r.tenant(), nil
}

// Create adds a provisioning tenant with id for username, in one
// transaction that succeeds only if neither the username nor the id is
// taken: of several nodes signing one username up at once, exactly one
// wins and the others get tenant.ErrExists. When Create returns, this
// node's Lookup finds the tenant.
func (d *Directory) Create(ctx context.Context, id, username string) (tenant.Tenant, error) {
	username = strings.ToLower(username)
	if !validTenantID(id) || !validTenantID(username) {
		return tenant.Tenant{}, fmt.Errorf("cluster: create tenant %q for %q: %w", id, username, ErrBadTenantID)
	}
	now := d.now().UTC()
	r := record{ID: id, Username: username, State: tenant.StateProvisioning, CreatedAt: now, UpdatedAt: now}
	b, err := json.Marshal(r)
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("cluster: encode tenant: %w", err)
	}
	user, idKey := d.keys.user(username), d.keys.id(id)
	resp, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(user), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(idKey), "=", 0)).
		Then(clientv3.OpPut(user, string(b)), clientv3.OpPut(idKey, username)).
		Else(clientv3.OpGet(user, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("cluster: create tenant %s: %w: %w", username, tenant.ErrUnavailable, err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count > 0 {
			return tenant.Tenant{}, tenant.ErrExists
		}
		return tenant.Tenant{}, fmt.Errorf("cluster: create tenant %s: id %s is already in use", username, id)
	}
	if err := d.m.waitFor(ctx, resp.Header.Revision); err != nil {
		return tenant.Tenant{}, fmt.Errorf("cluster: create tenant %s: %w", username, err)
	}
	return r.tenant(), nil
}

// Lookup finds a tenant by username, ignoring letter case: from memory
// when the watch is current and knows it, else from etcd, waiting at most
// a lease TTL (a node cut off longer fences itself anyway). An etcd that
// cannot be reached is tenant.ErrUnavailable (503), not an internal error.
func (d *Directory) Lookup(ctx context.Context, username string) (tenant.Tenant, error) {
	username = strings.ToLower(username)
	if t, ok := d.v.byName(username); ok && d.m.fresh(d.stale) {
		return t, nil
	}
	if !validTenantID(username) {
		return tenant.Tenant{}, tenant.ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, d.stale)
	defer cancel()
	t, _, err := d.read(ctx, username)
	return t, err
}

// Peek is Lookup from memory alone: false unless the watched copy is
// current and holds the username (tenant.Pool.Elsewhere asks it).
func (d *Directory) Peek(username string) (tenant.Tenant, bool) {
	t, ok := d.v.byName(strings.ToLower(username))
	return t, ok && d.m.fresh(d.stale)
}

// Get finds a tenant by id, from memory when it can (see Lookup).
func (d *Directory) Get(ctx context.Context, id string) (tenant.Tenant, error) {
	if t, ok := d.v.byID(id); ok && d.m.fresh(d.stale) {
		return t, nil
	}
	if !validTenantID(id) {
		return tenant.Tenant{}, tenant.ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, d.stale)
	defer cancel()
	resp, err := d.cli.Get(ctx, d.keys.id(id))
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("cluster: get tenant %s: %w: %w", id, tenant.ErrUnavailable, err)
	}
	if len(resp.Kvs) == 0 {
		return tenant.Tenant{}, tenant.ErrNotFound
	}
	t, _, err := d.read(ctx, string(resp.Kvs[0].Value))
	if err == nil && t.ID != id {
		return tenant.Tenant{}, tenant.ErrNotFound // removed and the name taken again meanwhile
	}
	return t, err
}

// read gets a record from etcd, with its revision.
func (d *Directory) read(ctx context.Context, username string) (tenant.Tenant, int64, error) {
	resp, err := d.cli.Get(ctx, d.keys.user(username))
	if err != nil {
		return tenant.Tenant{}, 0, fmt.Errorf("cluster: look up %s: %w: %w", username, tenant.ErrUnavailable, err)
	}
	if len(resp.Kvs) == 0 {
		return tenant.Tenant{}, 0, tenant.ErrNotFound
	}
	t, err := decodeRecord(resp.Kvs[0].Value)
	if err != nil {
		return tenant.Tenant{}, 0, fmt.Errorf("cluster: look up %s: %w", username, err)
	}
	return t, resp.Kvs[0].ModRevision, nil
}

// SetState records a tenant's state, schema version and last error. It
// rewrites the record only if nobody changed it since it was read (and
// reads it again if somebody did). An unknown id is tenant.ErrNotFound.
func (d *Directory) SetState(ctx context.Context, id string, s tenant.State, version int, msg string) error {
	for range casAttempts {
		cur, err := d.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("cluster: set tenant %s %s: %w", id, s, err)
		}
		t, rev, err := d.read(ctx, cur.Username)
		if err == nil && t.ID != id {
			err = tenant.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("cluster: set tenant %s %s: %w", id, s, err)
		}
		t.State, t.SchemaVersion, t.Error, t.UpdatedAt = s, version, msg, d.now().UTC()
		b, err := json.Marshal(record(t))
		if err != nil {
			return fmt.Errorf("cluster: encode tenant: %w", err)
		}
		key := d.keys.user(t.Username)
		resp, err := d.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(b))).
			Commit()
		if err != nil {
			return fmt.Errorf("cluster: set tenant %s %s: %w", id, s, err)
		}
		if resp.Succeeded {
			return d.m.waitFor(ctx, resp.Header.Revision)
		}
	}
	return fmt.Errorf("cluster: set tenant %s %s: changed by others %d times in a row: %w", id, s, casAttempts, tenant.ErrBusy)
}

// Remove deletes a tenant's record and index in one transaction. An unknown
// id is not an error.
func (d *Directory) Remove(ctx context.Context, id string) error {
	if !validTenantID(id) {
		return nil
	}
	idKey := d.keys.id(id)
	resp, err := d.cli.Get(ctx, idKey)
	if err != nil {
		return fmt.Errorf("cluster: remove tenant %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	username := string(resp.Kvs[0].Value)
	tx, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(idKey), "=", resp.Kvs[0].ModRevision)).
		Then(clientv3.OpDelete(d.keys.user(username)), clientv3.OpDelete(idKey), clientv3.OpDelete(d.keys.lastOwner(id)),
			clientv3.OpDelete(d.keys.replica(id))).
		Commit()
	if err != nil {
		return fmt.Errorf("cluster: remove tenant %s: %w", id, err)
	}
	if !tx.Succeeded {
		return fmt.Errorf("cluster: remove tenant %s: changed while removing: %w", id, tenant.ErrBusy)
	}
	return d.m.waitFor(ctx, tx.Header.Revision)
}

// List returns up to limit tenants ordered by username, starting after the
// username after ("" for the first page), read from etcd.
func (d *Directory) List(ctx context.Context, after string, limit int) ([]tenant.Tenant, error) {
	if limit <= 0 {
		return nil, nil
	}
	from := d.keys.users()
	if after != "" {
		from = d.keys.user(strings.ToLower(after)) + "\x00"
	}
	resp, err := d.cli.Get(ctx, from,
		clientv3.WithRange(clientv3.GetPrefixRangeEnd(d.keys.users())),
		clientv3.WithLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("cluster: list tenants: %w", err)
	}
	ts := make([]tenant.Tenant, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		t, err := decodeRecord(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("cluster: list tenants at %s: %w", kv.Key, err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// Count returns how many tenants the directory holds, read from etcd.
func (d *Directory) Count(ctx context.Context) (int, error) {
	resp, err := d.cli.Get(ctx, d.keys.users(), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("cluster: count tenants: %w", err)
	}
	return int(resp.Count), nil
}
