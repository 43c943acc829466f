package tenant

import (
	"context"
	"sync"
)

// MigrateResult is what MigrateAll did to one tenant.
type MigrateResult struct {
	Tenant   Tenant
	From, To int   // schema versions before and after
	Err      error // nil when the tenant is current
}

// MigrateAll brings every active or failed tenant up to the newest schema,
// jobs at a time, going on past tenants that fail. progress, if not nil, is
// called after each tenant with how many are done of how many. A tenant
// already current costs a read and no write. The error is only for failures
// to read the directory; per-tenant failures are in the results.
func (p *Pool) MigrateAll(ctx context.Context, jobs int, progress func(done, total int)) ([]MigrateResult, error) {
	ts, err := p.allTenants(ctx)
	if err != nil {
		return nil, err
	}
	jobs = max(jobs, 1)
	results := make([]MigrateResult, len(ts))
	work := make(chan int)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	for range min(jobs, max(len(ts), 1)) {
		wg.Go(func() {
			for i := range work {
				results[i] = p.migrateOne(ctx, ts[i])
				mu.Lock()
				done++
				if progress != nil {
					progress(done, len(ts))
				}
				mu.Unlock()
			}
		})
	}
	for i := range ts {
		work <- i
	}
	close(work)
	wg.Wait()
	return results, nil
}

func (p *Pool) migrateOne(ctx context.Context, t Tenant) MigrateResult {
	r := MigrateResult{Tenant: t, From: t.SchemaVersion, To: t.SchemaVersion}
	if err := ctx.Err(); err != nil {
		r.Err = err
		return r
	}
	db, err := p.openFile(ctx, t.ID)
	if err != nil {
		r.Err = err
		return r
	}
	defer db.Close()
	r.From, r.Err = p.upgrade(ctx, t, db)
	if r.Err == nil {
		r.To = p.SchemaVersion()
	} else if v, err := userVersion(ctx, db); err == nil {
		r.To = v
	}
	return r
}

// allTenants reads every tenant that has a file to migrate.
func (p *Pool) allTenants(ctx context.Context) ([]Tenant, error) {
	var out []Tenant
	if p.sqlite == nil {
		return nil, sqliteOnly("migrating every tenant")
	}
	err := p.sqlite.Walk(ctx, 0, func(t Tenant) error {
		if t.State != StateProvisioning {
			out = append(out, t)
		}
		return nil
	})
	return out, err
}
