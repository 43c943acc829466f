package cluster

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// owner is one owner key: which node holds a tenant, under which lease,
// since which revision (the fencing token).
type owner struct {
	node  string
	lease int64
	rev   int64
}

// ownerView is the cache of <prefix>/owner/.
type ownerView struct {
	prefix string
	mu     sync.RWMutex
	m      map[string]owner
}

func newOwnerView(prefix string) *ownerView {
	return &ownerView{prefix: prefix, m: make(map[string]owner)}
}

func (v *ownerView) get(tenant string) (owner, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	o, ok := v.m[tenant]
	return o, ok
}

// heldBy lists the tenants a node holds, sorted.
func (v *ownerView) heldBy(node string) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var ids []string
	for id, o := range v.m {
		if o.node == node {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// counts is how many tenants each node holds.
func (v *ownerView) counts() map[string]int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c := make(map[string]int)
	for _, o := range v.m {
		c[o.node]++
	}
	return c
}

func ownerOf(kv *mvccpb.KeyValue) owner {
	return owner{node: string(kv.Value), lease: kv.Lease, rev: kv.ModRevision}
}

func (v *ownerView) load(kvs []*mvccpb.KeyValue, _ int64) {
	m := make(map[string]owner, len(kvs))
	for _, kv := range kvs {
		m[strings.TrimPrefix(string(kv.Key), v.prefix)] = ownerOf(kv)
	}
	v.mu.Lock()
	v.m = m
	v.mu.Unlock()
}

func (v *ownerView) put(kv *mvccpb.KeyValue) {
	v.mu.Lock()
	v.m[strings.TrimPrefix(string(kv.Key), v.prefix)] = ownerOf(kv)
	v.mu.Unlock()
}

func (v *ownerView) del(kv *mvccpb.KeyValue) {
	v.mu.Lock()
	delete(v.m, strings.TrimPrefix(string(kv.Key), v.prefix))
	v.mu.Unlock()
}

// nodeView is the cache of <prefix>/nodes/.
type nodeView struct {
	prefix string
	mu     sync.RWMutex
	m      map[string]NodeInfo
}

func newNodeView(prefix string) *nodeView {
	return &nodeView{prefix: prefix, m: make(map[string]NodeInfo)}
}

func (v *nodeView) get(id string) (NodeInfo, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	n, ok := v.m[id]
	return n, ok
}

func (v *nodeView) list() []NodeInfo {
	v.mu.RLock()
	defer v.mu.RUnlock()
	ns := make([]NodeInfo, 0, len(v.m))
	for _, n := range v.m {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i].ID < ns[j].ID })
	return ns
}

// nodeOf decodes a registration; one that does not decode keeps its id
// with no address, so forwarding to it fails visibly rather than silently.
func nodeOf(prefix string, kv *mvccpb.KeyValue) NodeInfo {
	var n NodeInfo
	if json.Unmarshal(kv.Value, &n) != nil {
		n = NodeInfo{}
	}
	n.ID = strings.TrimPrefix(string(kv.Key), prefix)
	return n
}

func (v *nodeView) load(kvs []*mvccpb.KeyValue, _ int64) {
	m := make(map[string]NodeInfo, len(kvs))
	for _, kv := range kvs {
		n := nodeOf(v.prefix, kv)
		m[n.ID] = n
	}
	v.mu.Lock()
	v.m = m
	v.mu.Unlock()
}

func (v *nodeView) put(kv *mvccpb.KeyValue) {
	n := nodeOf(v.prefix, kv)
	v.mu.Lock()
	v.m[n.ID] = n
	v.mu.Unlock()
}

func (v *nodeView) del(kv *mvccpb.KeyValue) {
	v.mu.Lock()
	delete(v.m, strings.TrimPrefix(string(kv.Key), v.prefix))
	v.mu.Unlock()
}
