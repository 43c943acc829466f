package auth

import (
	"context"

	"github.com/alexedwards/scs/v2"
)

// SessionBackend is where sessions are kept: an scs.Store that can also end
// every session of one tenant. [*SessionStore] keeps them in routing.db;
// package cluster's Sessions keeps them in etcd, shared by every node.
type SessionBackend interface {
	scs.Store
	// DeleteTenant ends every session signed in as tenantID and returns
	// how many it ended.
	DeleteTenant(ctx context.Context, tenantID string) (int, error)
}
