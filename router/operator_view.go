package router

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/web"
)

// view gathers the operator page for the tenants after the username
// after. It reads routing.db a page at a time (keyset, by username) and
// stats only that page's files, so its cost does not grow with the number
// of tenants, except for the counts, which SQLite answers from routing.db
// alone.
func (o *Operator) view(ctx context.Context, after string) (web.Operator, error) {
	pool := o.cfg.Pool
	v := web.Operator{
		Frame:         web.Frame{Title: "Operator", Operator: true},
		SchemaVersion: pool.SchemaVersion(),
		Continued:     after != "",
		Pool:          poolView(pool.Stats()),
	}
	if n := o.cfg.Node; n != nil {
		v.Cluster = clusterView(n)
		if v.Cluster.Lost {
			return v, nil // etcd, which lists the tenants, is out of reach
		}
	}
	var err error
	if v.Tenants, err = pool.Routing().Count(ctx); err != nil {
		return web.Operator{}, err
	}
	if v.Cluster == nil {
		if err := o.failed(ctx, &v); err != nil {
			return web.Operator{}, err
		}
	}
	ts, err := pool.Routing().List(ctx, after, o.cfg.PageSize+1)
	if err != nil {
		return web.Operator{}, err
	}
	if len(ts) > o.cfg.PageSize {
		ts = ts[:o.cfg.PageSize]
		v.Next = ts[len(ts)-1].Username
	}
	v.Rows, err = o.rows(ctx, ts, v.SchemaVersion)
	if err != nil {
		return web.Operator{}, err
	}
	if o.cfg.Replication != nil {
		if v.Replication, err = o.replication(ctx, v.Rows); err != nil {
			return web.Operator{}, err
		}
	}
	if n := o.cfg.Node; n != nil {
		for i := range v.Rows {
			v.Rows[i].Owner = "—"
			if own, ok := n.Owner(v.Rows[i].ID); ok {
				v.Rows[i].Owner = own.Owner.ID
			}
		}
	}
	return v, nil
}

// failed counts the tenants behind the schema and lists the failed ones,
// which routing.db answers from its indexes.
func (o *Operator) failed(ctx context.Context, v *web.Operator) error {
	dir := o.cfg.Pool.Directory()
	var err error
	if v.Pending, err = dir.CountBehind(ctx, v.SchemaVersion); err != nil {
		return err
	}
	failed, n, err := dir.Failed(ctx, operatorFailedShown)
	if err != nil {
		return err
	}
	v.FailedCount = n
	for _, t := range failed {
		v.Failed = append(v.Failed, web.OperatorTenant{
			Username: t.Username, ID: t.ID, State: string(t.State), SchemaVersion: t.SchemaVersion, Error: t.Error,
		})
	}
	return nil
}

// clusterView is what node n knows of the cluster, from its caches (no
// etcd request).
func clusterView(n *cluster.Node) *web.OperatorCluster {
	self := n.Info().ID
	c := &web.OperatorCluster{Node: self, Lease: "held"}
	if err := n.Err(); err != nil {
		c.Lease, c.Lost = err.Error(), true
	}
	counts := n.OwnedCounts()
	for _, info := range n.Nodes() {
		c.Nodes = append(c.Nodes, web.OperatorNode{
			ID: info.ID, Advertise: info.Advertise, Tenants: counts[info.ID], Self: info.ID == self,
		})
	}
	return c
}

// rows describes one page of tenants: routing row, file size and what the
// pool knows of their use.
func (o *Operator) rows(ctx context.Context, ts []tenant.Tenant, version int) ([]web.OperatorTenant, error) {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	activity := o.cfg.Pool.Activity(ids)
	rows := make([]web.OperatorTenant, len(ts))
	for i, t := range ts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		row := web.OperatorTenant{
			Username: t.Username, ID: t.ID, State: string(t.State), SchemaVersion: t.SchemaVersion,
			Behind: t.SchemaVersion < version && t.State != tenant.StateProvisioning, Error: t.Error,
			CreatedAt: t.CreatedAt, LastOpened: activity[i].LastOpened, Open: activity[i].Open,
		}
		size, err := o.cfg.Pool.FileSize(t.ID)
		switch {
		case err == nil:
			row.SizeBytes = size
		case errors.Is(err, fs.ErrNotExist):
			row.SizeError = "no file"
		default:
			row.SizeError = "unknown"
			o.cfg.Logger.WarnContext(ctx, "operator page: size of a tenant file", "tenant", t.ID, "err", err)
		}
		rows[i] = row
	}
	return rows, nil
}

// replication asks the replication hook about the page's tenants and sets
// each row's lag.
func (o *Operator) replication(ctx context.Context, rows []web.OperatorTenant) (string, error) {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	summary, lag, err := o.cfg.Replication.Lag(ctx, ids)
	if err != nil {
		return "", fmt.Errorf("replication lag: %w", err)
	}
	for i := range rows {
		if d, ok := lag[rows[i].ID]; ok {
			rows[i].ReplicaLag = d.Round(time.Millisecond).String()
		} else {
			rows[i].ReplicaLag = "—"
		}
	}
	if summary == "" {
		summary = "on"
	}
	return summary, nil
}

// poolView is the pool's counters as the page shows them.
func poolView(s tenant.Stats) web.OperatorPool {
	p := web.OperatorPool{Open: s.Open, Capacity: s.Capacity, Hits: s.Hits, Misses: s.Misses, Evictions: s.Evictions, HitRate: "—",
		Memo: fmt.Sprintf("%.1f MiB", float64(s.MemoBytes)/(1<<20)), Kept: s.KeptMemos, KeptHits: s.KeptHits}
	if total := s.Hits + s.Misses; total > 0 {
		p.HitRate = fmt.Sprintf("%.1f%%", 100*float64(s.Hits)/float64(total))
	}
	return p
}
