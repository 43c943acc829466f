package tenant

import (
	"context"
	"fmt"
	"time"
)

// Activity is what a pool knows of one tenant's use since it started. It
// is kept in memory only: recording it costs the request path nothing (an
// open writes it under the lock the open holds anyway) and writes nothing
// to routing.db. A restart forgets it.
type Activity struct {
	// Open says the pool holds the tenant's file open now.
	Open bool
	// LastOpened is when the pool last opened the file; zero when it has
	// not since it started.
	LastOpened time.Time
}

// Activity returns the activity of each of ids, in order.
func (p *Pool) Activity(ids []string) []Activity {
	out := make([]Activity, len(ids))
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, id := range ids {
		e, open := p.entries[id]
		out[i] = Activity{Open: open && e.db != nil && e.gone == nil, LastOpened: p.opened[id]}
	}
	return out
}

// FileSize is the size on disk of tenant id's file plus its WAL (see
// TenantSize). It only stats the files.
func (p *Pool) FileSize(id string) (int64, error) { return TenantSize(p.dir, id) }

// The queries of Failed and CountBehind. The first two repeat the
// condition of the partial index tenants_state (rows that are not
// active), which is what lets SQLite use it; the third reads the index
// tenants_version. So they read only the rows they count or list, however
// many tenants are well (TestOperatorQueriesUseTheirIndexes).
const (
	countFailedQuery = "SELECT count(*) FROM tenants WHERE state != 'active' AND state = 'failed'"
	listFailedQuery  = "SELECT " + tenantColumns + " FROM tenants WHERE state != 'active' AND state = 'failed' ORDER BY username LIMIT ?"
	countBehindQuery = "SELECT count(*) FROM tenants WHERE schema_version < ? AND state != 'provisioning'"
)

// Failed returns up to limit tenants whose last migration failed, ordered
// by username, and how many there are in all.
func (d *Directory) Failed(ctx context.Context, limit int) ([]Tenant, int, error) {
	var n int
	if err := d.db.GetContext(ctx, &n, countFailedQuery); err != nil {
		return nil, 0, fmt.Errorf("count failed tenants: %w", err)
	}
	var ts []Tenant
	if err := d.db.SelectContext(ctx, &ts, listFailedQuery, limit); err != nil {
		return nil, 0, fmt.Errorf("list failed tenants: %w", err)
	}
	return ts, n, nil
}

// CountBehind counts the tenants, made or failed, whose file is at a
// schema version below version: those a migration is pending for.
func (d *Directory) CountBehind(ctx context.Context, version int) (int, error) {
	var n int
	if err := d.db.GetContext(ctx, &n, countBehindQuery, version); err != nil {
		return 0, fmt.Errorf("count tenants behind version %d: %w", version, err)
	}
	return n, nil
}
