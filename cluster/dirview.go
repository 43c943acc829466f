package cluster

import (
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/cubbyhq/cubby/tenant"
)

// dirView is the in-memory copy of <prefix>/users/: every record, by
// username and by id.
type dirView struct {
	prefix string
	mu     sync.RWMutex
	names  map[string]tenant.Tenant
	ids    map[string]string // id → username
	// removed gets a value when a record is deleted (see Directory.Removed).
	removed chan struct{}
}

func newDirView(prefix string) *dirView {
	return &dirView{prefix: prefix, names: make(map[string]tenant.Tenant), ids: make(map[string]string),
		removed: make(chan struct{}, 1)}
}

// provisioningSince lists the tenants provisioning since before cutoff.
func (v *dirView) provisioningSince(cutoff time.Time) []tenant.Tenant {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []tenant.Tenant
	for _, t := range v.names {
		if t.State == tenant.StateProvisioning && t.UpdatedAt.Before(cutoff) {
			out = append(out, t)
		}
	}
	return out
}

func (v *dirView) byName(username string) (tenant.Tenant, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	t, ok := v.names[username]
	return t, ok
}

func (v *dirView) byID(id string) (tenant.Tenant, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	name, ok := v.ids[id]
	if !ok {
		return tenant.Tenant{}, false
	}
	t, ok := v.names[name]
	return t, ok
}

func (v *dirView) load(kvs []*mvccpb.KeyValue, _ int64) {
	names, ids := make(map[string]tenant.Tenant, len(kvs)), make(map[string]string, len(kvs))
	for _, kv := range kvs {
		// A record that does not decode is left out: a miss then asks etcd,
		// whose answer is the same error, reported to the caller.
		if t, err := decodeRecord(kv.Value); err == nil {
			names[t.Username], ids[t.ID] = t, t.Username
		}
	}
	v.mu.Lock()
	v.names, v.ids = names, ids
	v.mu.Unlock()
}

func (v *dirView) put(kv *mvccpb.KeyValue) {
	name := strings.TrimPrefix(string(kv.Key), v.prefix)
	t, err := decodeRecord(kv.Value)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.drop(name)
	if err == nil {
		v.names[name], v.ids[t.ID] = t, name
	}
}

func (v *dirView) del(kv *mvccpb.KeyValue) {
	v.mu.Lock()
	v.drop(strings.TrimPrefix(string(kv.Key), v.prefix))
	v.mu.Unlock()
	select {
	case v.removed <- struct{}{}:
	default: // a sweep is already due
	}
}

// drop forgets a username's record; the caller holds mu.
func (v *dirView) drop(name string) {
	if old, ok := v.names[name]; ok {
		delete(v.ids, old.ID)
		delete(v.names, name)
	}
}
