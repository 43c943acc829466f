package tenant

import (
	"context"
	"fmt"
)

// Routing is the map from username to tenant that a Pool works through.
// [*Directory] (routing.db) is the single-node one; package cluster's
// Directory keeps the same map in etcd for several nodes. Lookups are on
// every request's path, so an implementation answers them from memory
// where it can.
type Routing interface {
	// Lookup finds a tenant by username, ignoring letter case; ErrNotFound
	// when there is none.
	Lookup(ctx context.Context, username string) (Tenant, error)
	// Get finds a tenant by id; ErrNotFound when there is none.
	Get(ctx context.Context, id string) (Tenant, error)
	// List returns up to limit tenants ordered by username, after the
	// username after ("" for the first page).
	List(ctx context.Context, after string, limit int) ([]Tenant, error)
	// Count returns how many tenants there are, in any state.
	Count(ctx context.Context) (int, error)
	// Ping checks that the directory answers.
	Ping(ctx context.Context) error
	// Create adds a provisioning tenant; a taken username is ErrExists.
	Create(ctx context.Context, id, username string) (Tenant, error)
	// SetState records a tenant's state, schema version and last error.
	SetState(ctx context.Context, id string, s State, version int, msg string) error
	// Remove deletes a tenant's entry; the username is free again.
	Remove(ctx context.Context, id string) error
}

// Create inserts a provisioning row; a taken username is ErrExists. Pools
// call it through Provision: a row made by hand has no file.
func (d *Directory) Create(ctx context.Context, id, username string) (Tenant, error) {
	return d.create(ctx, id, username)
}

// SetState records a tenant's state, schema version and last error.
func (d *Directory) SetState(ctx context.Context, id string, s State, version int, msg string) error {
	return d.setState(ctx, id, s, version, msg)
}

// Remove deletes a tenant's row; Pool.Delete removes its files too.
func (d *Directory) Remove(ctx context.Context, id string) error { return d.remove(ctx, id) }

// sqliteOnly is the error of what only routing.db can do (the crash sweep,
// walking every tenant) on a pool routed elsewhere.
func sqliteOnly(what string) error {
	return fmt.Errorf("tenant: %s needs routing.db; this pool is routed by another directory", what)
}
