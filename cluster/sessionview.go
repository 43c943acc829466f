package cluster

import (
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// sessionEntry is one session as this node knows it. Values are replaced,
// never modified in place.
type sessionEntry struct {
	data     []byte
	tenant   string
	deadline time.Time // absolute, from the codec
	decoded  bool      // whether data decoded; if not, the idle deadline is not capped
	stored   time.Time // the expiry in etcd
	expiry   time.Time // the idle deadline as moved in memory; >= stored
	rev      int64     // ModRevision of the key
}

// sessionView caches some sessions (at most size) and keeps them true:
// the watch replaces or drops cached ones, and ignores the rest. seen is
// the revision of the newest change the watch applied, so that a read
// from etcd is cached only if no later change was already applied (and
// so missed by the entry).
type sessionView struct {
	prefix string
	size   int
	codec  scs.Codec
	mu     sync.Mutex
	m      map[string]sessionEntry
	seen   int64
}

func newSessionView(prefix string, size int, codec scs.Codec) *sessionView {
	return &sessionView{prefix: prefix, size: size, codec: codec, m: make(map[string]sessionEntry)}
}

func (v *sessionView) get(digest string) (sessionEntry, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[digest]
	return e, ok
}

// offer caches e, which was true at revision asOf: it replaces an older
// cached entry, and is added only if the watch applied nothing after
// asOf. When full, a random entry makes room.
func (v *sessionView) offer(digest string, e sessionEntry, asOf int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cur, ok := v.m[digest]; ok {
		if e.rev > cur.rev || (e.rev == cur.rev && e.expiry.After(cur.expiry)) {
			v.m[digest] = e
		}
		return
	}
	if v.seen > asOf {
		return
	}
	if len(v.m) >= v.size {
		for k := range v.m {
			delete(v.m, k)
			break
		}
	}
	v.m[digest] = e
}

// forget drops one session.
func (v *sessionView) forget(digest string) {
	v.mu.Lock()
	delete(v.m, digest)
	v.mu.Unlock()
}

// forgetTenant drops every cached session of a tenant.
func (v *sessionView) forgetTenant(tenant string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, e := range v.m {
		if e.tenant == tenant {
			delete(v.m, k)
		}
	}
}

func (v *sessionView) load(_ []*mvccpb.KeyValue, rev int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m = make(map[string]sessionEntry)
	v.seen = max(v.seen, rev)
}

func (v *sessionView) put(kv *mvccpb.KeyValue) {
	digest := strings.TrimPrefix(string(kv.Key), v.prefix)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen = max(v.seen, kv.ModRevision)
	cur, ok := v.m[digest]
	if !ok || kv.ModRevision <= cur.rev {
		return
	}
	e, err := decodeSession(kv, v.codec)
	if err != nil {
		delete(v.m, digest) // a read asks etcd and reports the error
		return
	}
	if e.stored.Before(cur.expiry) && e.data != nil && string(e.data) == string(cur.data) {
		// The same session refreshed by another node less far than this
		// one has moved it in memory: keep the later idle deadline.
		e.expiry = cur.expiry
	}
	v.m[digest] = e
}

func (v *sessionView) del(kv *mvccpb.KeyValue) {
	digest := strings.TrimPrefix(string(kv.Key), v.prefix)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen = max(v.seen, kv.ModRevision)
	delete(v.m, digest)
}
