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

// Failed returns up to limit tenants whose last migration failed, ordered
// by username, and how many there are in all. It reads the partial index
// of rows that are not active, so it stays cheap however many tenants are
// well.
func (d *Directory) Failed(ctx context.Context, limit int) ([]Tenant, int, error) {
	var n int
	if err := d.db.GetContext(ctx, &n, "SELECT count(*) FROM tenants WHERE state = ?", StateFailed); err != nil {
		return nil, 0, fmt.Errorf("count failed tenants: %w", err)
	}
	var ts []Tenant
	err := d.db.SelectContext(ctx, &ts,
		"SELECT "+tenantColumns+" FROM tenants WHERE state = ? ORDER BY username LIMIT ?", StateFailed, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list failed tenants: %w", err)
	}
	return ts, n, nil
}

// CountBehind counts the tenants, made or failed, whose file is at a
// schema version below version: those a migration is pending for.
func (d *Directory) CountBehind(ctx context.Context, version int) (int, error) {
	var n int
	err := d.db.GetContext(ctx, &n,
		"SELECT count(*) FROM tenants WHERE schema_version < ? AND state != ?", version, StateProvisioning)
	if err != nil {
		return 0, fmt.Errorf("count tenants behind version %d: %w", version, err)
	}
	return n, nil
}
