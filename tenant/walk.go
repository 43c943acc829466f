package tenant

import (
	"context"
	"fmt"
)

// walkPage is how many routing rows Walk reads at a time when the caller
// names no page size.
const walkPage = 1000

// Walk calls fn for every tenant of the directory, in any state, in
// username order, reading pageSize rows at a time (walkPage when
// pageSize < 1), so that memory stays flat however many tenants there are.
// It stops at the first error fn returns, or when ctx ends. The walk is not
// one snapshot: a tenant added or removed meanwhile may or may not be seen.
func (d *Directory) Walk(ctx context.Context, pageSize int, fn func(Tenant) error) error {
	if pageSize < 1 {
		pageSize = walkPage
	}
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list tenants: %w", err)
		}
		page, err := d.List(ctx, after, pageSize)
		if err != nil {
			return err
		}
		for _, t := range page {
			if err := fn(t); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		after = page[len(page)-1].Username
	}
}

// all returns every tenant, in any state, ordered by username.
func (d *Directory) all(ctx context.Context) ([]Tenant, error) {
	var ts []Tenant
	err := d.Walk(ctx, 0, func(t Tenant) error {
		ts = append(ts, t)
		return nil
	})
	return ts, err
}
