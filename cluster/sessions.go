package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cubbyhq/cubby/auth"
)

// SessionConfig tunes Sessions. A zero field takes the default named
// beside it; the meanings are those of auth.SessionStoreConfig.
type SessionConfig struct {
	// CacheSize is how many sessions a node keeps in memory; 10,000.
	CacheSize int
	// CoalesceWindow is how far a session's idle deadline may move in
	// memory before it is written to etcd; 5 minutes.
	CoalesceWindow time.Duration
	// IdleTimeout ends a session unused for this long;
	// auth.SessionIdleTimeout. Negative: no idle timeout.
	IdleTimeout time.Duration
	// Codec is the scs.SessionManager's codec; auth.SessionCodec.
	Codec scs.Codec
	// OpTimeout bounds each etcd request (scs gives the store no context);
	// 5 s.
	OpTimeout time.Duration
	// Now is the clock deadlines are judged by; time.Now.
	Now func() time.Time
}

func (c SessionConfig) withDefaults() SessionConfig {
	if c.CacheSize <= 0 {
		c.CacheSize = 10_000
	}
	if c.CoalesceWindow == 0 {
		c.CoalesceWindow = 5 * time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = auth.SessionIdleTimeout
	}
	if c.Codec == nil {
		c.Codec = auth.SessionCodec{}
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Sessions is an scs.Store of cubby's sessions kept in etcd, so a session
// made on one node is valid on all:
//
//   - <prefix>/sessions/<hex SHA-256 of the token> holds the tenant id,
//     the scs data and the expiry; <prefix>/session-tenants/<tenant>/<digest>
//     indexes a tenant's sessions, so DeleteTenant ends them all.
//   - Expiry is checked on read, against the deadline in the value. Keys are
//     also attached to a lease shared by every session that expires in the
//     same hour (granted on first use, living to the end of that hour plus
//     a minute), so etcd deletes expired sessions itself, without a sweeper
//     and without one lease per session.
//   - Each node caches up to CacheSize sessions; the watch on the prefix
//     replaces or drops cached ones as other nodes change or delete them, so
//     a logout on one node ends the session on every node within the watch's
//     delay. A cached session is used only while the watch is known current
//     (heard from within the lease TTL); otherwise Find asks etcd.
//   - The idle deadline moves in memory on each Find and is written (with a
//     transaction that fails if the session changed meanwhile, so a deleted
//     session is never brought back) once it has moved CoalesceWindow, as
//     auth.SessionStore does.
type Sessions struct {
	cli   *clientv3.Client
	keys  keys
	cfg   SessionConfig
	v     *sessionView
	m     *mirror
	stale time.Duration

	leases *bucketLeases // hour buckets
}

var _ scs.Store = (*Sessions)(nil)

// bucketSpan is the width of an expiry bucket: the sessions that expire in
// one span share a lease.
const bucketSpan = time.Hour

// OpenSessions starts watching n's sessions. Close it before the node.
func OpenSessions(ctx context.Context, n *Node, cfg SessionConfig) (*Sessions, error) {
	cfg = cfg.withDefaults()
	s := &Sessions{cli: n.cli, keys: n.keys, cfg: cfg, stale: n.cfg.LeaseTTL,
		leases: newBucketLeases(n.cli, bucketSpan, cfg.Now),
		v:      newSessionView(n.keys.sessions(), cfg.CacheSize, cfg.Codec)}
	m, err := startMirror(ctx, n.cli, n.keys.sessions(), s.v, n.cfg.LeaseTTL/3, true)
	if err != nil {
		return nil, fmt.Errorf("cluster: open sessions: %w", err)
	}
	s.m = m
	return s, nil
}

// Close stops the watch. The bucket leases are left to expire: other
// nodes' sessions may be attached to them. Safe to call twice.
func (s *Sessions) Close() error {
	s.m.close()
	return nil
}

// storedSession is a session's value in etcd.
type storedSession struct {
	Tenant    string `json:"tenant,omitempty"`
	Data      []byte `json:"data"`
	ExpiresMS int64  `json:"expires_ms"`
}

// decodeSession reads a session key into a cache entry.
func decodeSession(kv *mvccpb.KeyValue, codec scs.Codec) (sessionEntry, error) {
	var st storedSession
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		return sessionEntry{}, fmt.Errorf("decode session: %w", err)
	}
	stored := time.UnixMilli(st.ExpiresMS)
	e := sessionEntry{data: st.Data, tenant: st.Tenant, stored: stored, expiry: stored, rev: kv.ModRevision}
	if deadline, _, err := codec.Decode(st.Data); err == nil {
		e.deadline, e.decoded = deadline, true
	}
	return e, nil
}

func digestOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *Sessions) opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.OpTimeout)
}

// Find returns the data of the session with token, from memory when it is
// cached and the watch is current. An unknown or expired token is not
// found and is not an error.
func (s *Sessions) Find(token string) ([]byte, bool, error) {
	if token == "" {
		return nil, false, nil
	}
	digest, now := digestOf(token), s.cfg.Now()
	e, ok := s.v.get(digest)
	if !ok || !s.m.fresh(s.stale) {
		var err error
		if e, ok, err = s.load(digest); err != nil || !ok {
			return nil, false, err
		}
	}
	if !now.Before(e.expiry) {
		s.v.forget(digest)
		return nil, false, nil
	}
	if err := s.touch(digest, e, now); err != nil {
		return nil, false, err
	}
	return bytes.Clone(e.data), true, nil
}

// load reads a session from etcd and offers it to the cache.
func (s *Sessions) load(digest string) (sessionEntry, bool, error) {
	ctx, cancel := s.opContext()
	defer cancel()
	resp, err := s.cli.Get(ctx, s.keys.session(digest))
	if err != nil {
		return sessionEntry{}, false, fmt.Errorf("cluster: find session: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return sessionEntry{}, false, nil
	}
	e, err := decodeSession(resp.Kvs[0], s.cfg.Codec)
	if err != nil {
		return sessionEntry{}, false, fmt.Errorf("cluster: find session: %w", err)
	}
	s.v.offer(digest, e, resp.Header.Revision)
	return e, true, nil
}

// touch moves a session's idle deadline to now+IdleTimeout (never past its
// absolute deadline): in memory, and in etcd once it has moved a
// CoalesceWindow past the stored one or the stored one is within a window
// of lapsing.
func (s *Sessions) touch(digest string, e sessionEntry, now time.Time) error {
	if s.cfg.IdleTimeout <= 0 {
		return nil
	}
	next := now.Add(s.cfg.IdleTimeout)
	if e.decoded && next.After(e.deadline) {
		next = e.deadline
	}
	if !next.After(e.expiry) {
		return nil
	}
	w := s.cfg.CoalesceWindow
	if next.Sub(e.stored) < w && e.stored.Sub(now) >= w {
		e.expiry = next
		s.v.offer(digest, e, e.rev)
		return nil
	}
	ctx, cancel := s.opContext()
	defer cancel()
	key := s.keys.session(digest)
	ops, err := s.puts(ctx, digest, e.tenant, e.data, next)
	if err != nil {
		return fmt.Errorf("cluster: refresh session: %w", err)
	}
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", e.rev)).Then(ops...).Commit()
	if err != nil {
		s.leaseFailed(err)
		return fmt.Errorf("cluster: refresh session: %w", err)
	}
	if !resp.Succeeded {
		s.v.forget(digest) // changed or ended elsewhere: the next read asks etcd
		return nil
	}
	e.stored, e.expiry, e.rev = next, next, resp.Header.Revision
	s.v.offer(digest, e, resp.Header.Revision)
	return nil
}

// puts are the operations that store a session until expiry.
func (s *Sessions) puts(ctx context.Context, digest, tenant string, data []byte, expiry time.Time) ([]clientv3.Op, error) {
	b, err := json.Marshal(storedSession{Tenant: tenant, Data: data, ExpiresMS: expiry.UnixMilli()})
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	lease, err := s.leaseFor(ctx, expiry)
	if err != nil {
		return nil, err
	}
	ops := []clientv3.Op{clientv3.OpPut(s.keys.session(digest), string(b), clientv3.WithLease(lease))}
	if tenant != "" {
		ops = append(ops, clientv3.OpPut(s.keys.tenantSession(tenant, digest), "", clientv3.WithLease(lease)))
	}
	return ops, nil
}

// Commit stores the session data b for token until expiry (capped at
// now+IdleTimeout).
func (s *Sessions) Commit(token string, b []byte, expiry time.Time) error {
	digest, now := digestOf(token), s.cfg.Now()
	if idle := s.cfg.IdleTimeout; idle > 0 && expiry.After(now.Add(idle)) {
		expiry = now.Add(idle)
	}
	e := sessionEntry{data: bytes.Clone(b), stored: expiry, expiry: expiry}
	if deadline, values, err := s.cfg.Codec.Decode(b); err == nil {
		e.deadline, e.decoded = deadline, true
		e.tenant, _ = values[auth.SessionTenantKey].(string)
	}
	if !validTenantID(e.tenant) {
		e.tenant = "" // not a key segment: kept unindexed
	}
	ctx, cancel := s.opContext()
	defer cancel()
	ops, err := s.puts(ctx, digest, e.tenant, e.data, expiry)
	if err != nil {
		return fmt.Errorf("cluster: commit session: %w", err)
	}
	if prev, ok := s.v.get(digest); ok && prev.tenant != "" && prev.tenant != e.tenant {
		ops = append(ops, clientv3.OpDelete(s.keys.tenantSession(prev.tenant, digest)))
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		s.leaseFailed(err)
		return fmt.Errorf("cluster: commit session: %w", err)
	}
	e.rev = resp.Header.Revision
	s.v.offer(digest, e, resp.Header.Revision)
	return nil
}

// Delete ends the session with token on every node. An unknown token is
// not an error.
func (s *Sessions) Delete(token string) error {
	if token == "" {
		return nil
	}
	digest := digestOf(token)
	defer s.v.forget(digest)
	ctx, cancel := s.opContext()
	defer cancel()
	resp, err := s.cli.Delete(ctx, s.keys.session(digest), clientv3.WithPrevKV())
	if err != nil {
		return fmt.Errorf("cluster: delete session: %w", err)
	}
	for _, kv := range resp.PrevKvs {
		var st storedSession
		if json.Unmarshal(kv.Value, &st) == nil && validTenantID(st.Tenant) {
			if _, err := s.cli.Delete(ctx, s.keys.tenantSession(st.Tenant, digest)); err != nil {
				return fmt.Errorf("cluster: delete session index: %w", err)
			}
		}
	}
	return nil
}

// maxOpsPerTxn keeps DeleteTenant's transactions under etcd's default
// limit of 128 operations.
const maxOpsPerTxn = 100

// DeleteTenant ends every session of a tenant on every node (account
// deletion) and returns how many it deleted, as auth.SessionStore's does.
func (s *Sessions) DeleteTenant(ctx context.Context, tenant string) (int, error) {
	if !validTenantID(tenant) {
		return 0, fmt.Errorf("cluster: delete sessions of %q: %w", tenant, ErrBadTenantID)
	}
	defer s.v.forgetTenant(tenant)
	idx := s.keys.tenantSessions(tenant)
	resp, err := s.cli.Get(ctx, idx, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, fmt.Errorf("cluster: list sessions of %s: %w", tenant, err)
	}
	deleted := 0
	for kvs := resp.Kvs; len(kvs) > 0; {
		n := min(len(kvs), maxOpsPerTxn/2)
		var ops []clientv3.Op
		for _, kv := range kvs[:n] {
			ops = append(ops, clientv3.OpDelete(s.keys.session(string(kv.Key[len(idx):]))), clientv3.OpDelete(string(kv.Key)))
		}
		tx, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return deleted, fmt.Errorf("cluster: delete sessions of %s: %w", tenant, err)
		}
		for i := 0; i < len(tx.Responses); i += 2 {
			deleted += int(tx.Responses[i].GetResponseDeleteRange().Deleted)
		}
		kvs = kvs[n:]
	}
	return deleted, nil
}

// leaseFor returns the lease of expiry's bucket, granting it on first use.
func (s *Sessions) leaseFor(ctx context.Context, expiry time.Time) (clientv3.LeaseID, error) {
	return s.leases.lease(ctx, expiry)
}

// leaseFailed forgets every bucket lease if err says one is gone.
func (s *Sessions) leaseFailed(err error) { s.leases.failed(err) }
