package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cubbyhq/cubby/tenant"
)

// Audit is what Admin.Audit found in a cluster's etcd keys.
type Audit struct {
	// Problems lists what is wrong, one line each, in key order.
	Problems []string
	// Tenants are the well-formed directory records, by username.
	Tenants []tenant.Tenant
	// Nodes and Owners count the live nodes and the owner keys.
	Nodes, Owners int
}

// Audit reads the directory, the id index, the owner keys and the live
// nodes as etcd has them at one revision, and lists what is wrong: a
// record that does not decode or disagrees with its key or the id index,
// an unknown state, a failed tenant, a tenant provisioning since before
// now-stuck, an owner key naming a node that is not live or a tenant the
// directory lacks. It takes no lease and changes nothing.
func (a *Admin) Audit(ctx context.Context, now time.Time, stuck time.Duration) (Audit, error) {
	resp, err := a.cli.Get(ctx, a.keys.users(), clientv3.WithPrefix())
	if err != nil {
		return Audit{}, fmt.Errorf("cluster: read the directory: %w", err)
	}
	rev := clientv3.WithRev(resp.Header.Revision)
	read := func(what, prefix string) (map[string]string, error) {
		r, err := a.cli.Get(ctx, prefix, clientv3.WithPrefix(), rev)
		if err != nil {
			return nil, fmt.Errorf("cluster: read %s: %w", what, err)
		}
		m := make(map[string]string, len(r.Kvs))
		for _, kv := range r.Kvs {
			m[strings.TrimPrefix(string(kv.Key), prefix)] = string(kv.Value)
		}
		return m, nil
	}
	ids, err := read("the id index", a.keys.ids())
	if err != nil {
		return Audit{}, err
	}
	owners, err := read("the owner keys", a.keys.owners())
	if err != nil {
		return Audit{}, err
	}
	nodes, err := read("the nodes", a.keys.nodes())
	if err != nil {
		return Audit{}, err
	}
	au := Audit{Nodes: len(nodes), Owners: len(owners)}
	byID := map[string]string{} // tenant id → username, of the records
	for _, kv := range resp.Kvs {
		name := strings.TrimPrefix(string(kv.Key), a.keys.users())
		t, problems := auditRecord(name, kv.Value, ids, now, stuck)
		au.Problems = append(au.Problems, problems...)
		if t.ID == "" {
			continue
		}
		if other, dup := byID[t.ID]; dup {
			au.Problems = append(au.Problems, fmt.Sprintf("user %s: tenant id %s is also user %s's", name, t.ID, other))
		}
		byID[t.ID] = name
		au.Tenants = append(au.Tenants, t)
	}
	for _, id := range sortedKeys(ids) {
		if _, ok := byID[id]; !ok {
			au.Problems = append(au.Problems, fmt.Sprintf("id index: tenant %s names user %q, which has no record with that id", id, ids[id]))
		}
	}
	for _, id := range sortedKeys(owners) {
		node := owners[id]
		if _, ok := nodes[node]; !ok {
			au.Problems = append(au.Problems, fmt.Sprintf("owner key: tenant %s is owned by node %q, which is not live", id, node))
		}
		if _, ok := byID[id]; !ok {
			au.Problems = append(au.Problems, fmt.Sprintf("owner key: tenant %s (owned by %s) is not in the directory", id, node))
		}
	}
	return au, nil
}

// auditRecord decodes the directory record of user name and lists what
// is wrong with it; the tenant has no id when the record is unusable.
func auditRecord(name string, b []byte, ids map[string]string, now time.Time, stuck time.Duration) (tenant.Tenant, []string) {
	var r record
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return tenant.Tenant{}, []string{fmt.Sprintf("user %s: the record does not decode: %v", name, err)}
	}
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("user %s: ", name)+fmt.Sprintf(format, args...))
	}
	if !validTenantID(r.ID) {
		add("the record has no valid tenant id (%q)", r.ID)
		return tenant.Tenant{}, problems
	}
	if r.Username != name {
		add("the record names user %q", r.Username)
	}
	if got, ok := ids[r.ID]; !ok {
		add("tenant %s is missing from the id index", r.ID)
	} else if got != name {
		add("the id index gives tenant %s to user %q", r.ID, got)
	}
	switch r.State {
	case tenant.StateActive:
	case tenant.StateProvisioning:
		if since := now.Sub(r.UpdatedAt); since > stuck {
			add("provisioning since %s (%v, more than %v)", r.UpdatedAt.UTC().Format(time.RFC3339), since.Round(time.Second), stuck)
		}
	case tenant.StateFailed:
		add("failed: %s", r.Error)
	default:
		add("unknown state %q", r.State)
	}
	return r.tenant(), problems
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
