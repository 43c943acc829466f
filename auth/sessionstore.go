package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/cubbyhq/cubby/tenant"
)

// SessionTenantKey is the session value key under which the signed-in
// tenant's id (a string) is kept.
const SessionTenantKey = "tenant_id"

// SessionStoreConfig tunes a SessionStore. A zero field takes the default
// named beside it.
type SessionStoreConfig struct {
	// CacheSize is how many sessions are kept in memory; 10,000.
	CacheSize int
	// CoalesceWindow is how far a session's expiry may move forward without
	// a database write when its values have not changed; 5 minutes. A
	// negative window writes every commit.
	CoalesceWindow time.Duration
	// CleanupInterval is how often expired rows are deleted; 5 minutes. A
	// negative interval never deletes them.
	CleanupInterval time.Duration
	// IdleTimeout ends a session unused for this long; SessionIdleTimeout.
	// A negative value leaves idle expiry to the caller. The store, not
	// scs, keeps it (give scs no IdleTimeout): scs would re-encode and
	// commit the session, and set the cookie again, on every request.
	IdleTimeout time.Duration
	// Codec must be the scs.SessionManager's codec (default SessionCodec).
	Codec scs.Codec
	// Now is the clock against which expiry is judged; time.Now.
	Now func() time.Time
	// Logger receives the errors of the cleanup goroutine, which has no
	// caller to return them to; slog.Default().
	Logger *slog.Logger
}

// withDefaults fills the zero fields of c.
func (c SessionStoreConfig) withDefaults() SessionStoreConfig {
	if c.CacheSize <= 0 {
		c.CacheSize = 10_000
	}
	if c.CoalesceWindow == 0 {
		c.CoalesceWindow = 5 * time.Minute
	}
	if c.CleanupInterval == 0 {
		c.CleanupInterval = 5 * time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = SessionIdleTimeout
	}
	if c.Codec == nil {
		c.Codec = SessionCodec{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// SessionStore is the scs.Store of cubby's sessions, kept in a table of
// routing.db that it alone writes (see CreateSessionTable):
//
//   - Rows are keyed by hex(SHA-256(token)), so a copy of the database holds
//     no usable cookie.
//   - Reads come from a bounded in-memory cache that every write goes
//     through; when it is full a random entry is dropped.
//   - The store keeps the idle timeout (SessionStoreConfig.IdleTimeout):
//     each Find moves the session's idle deadline in memory and writes the
//     row only once it has moved CoalesceWindow past the stored one, or
//     the stored one is within a window of lapsing (see touch). So a
//     session in use costs at most one write per window, and after a
//     restart or an eviction it may expire up to CoalesceWindow early.
//
// For a caller that gives scs an IdleTimeout instead (scs then commits on
// every request only to push the expiry forward), Commit applies the same
// window: it skips a commit whose values and deadline are unchanged and
// whose expiry moved less than a window. It compares bytes first (equal
// bytes are an equal session under SessionCodec) and decoded values
// otherwise, since another codec may encode one map in several ways.
//
// SessionStore does not implement scs.IterableStore: the database holds
// digests, from which the tokens All must return cannot be recovered. Nor
// does it implement scs.CtxStore: a session read would then end with the
// request's context, and a client that went away would log as an error.
type SessionStore struct {
	db  *sql.DB
	cfg SessionStoreConfig

	// stop ends the cleanup goroutine; done is closed when it has ended.
	stop func()
	done chan struct{}

	// writeMu serialises writers, so the database and the cache agree
	// after each.
	writeMu sync.Mutex
	// mu guards cache and gen. gen counts writes, so a read that went to
	// the database can tell that a write raced it and not cache stale data.
	mu    sync.Mutex
	cache map[digest]*cachedSession
	gen   uint64
}

var _ scs.Store = (*SessionStore)(nil)

// cachedSession is what the database holds for one session, decoded, plus
// the latest expiry asked for. An entry in the cache is replaced, except
// its expiry, which moves in place (on every request, as the session is
// used); both only under mu, and readers copy it under mu.
type cachedSession struct {
	data     []byte
	deadline time.Time      // decoded from data
	values   map[string]any // decoded from data
	decoded  bool           // whether data decoded; if not, never coalesce
	stored   time.Time      // expiry of the database row
	expiry   time.Time      // expiry as last committed; >= stored
}

// NewSessionStore returns a SessionStore over db, which must hold the table
// made by CreateSessionTable. It starts a goroutine that deletes expired
// rows every cfg.CleanupInterval, unless that is negative; Close stops it.
func NewSessionStore(db *sql.DB, cfg SessionStoreConfig) *SessionStore {
	cfg = cfg.withDefaults()
	ctx, stop := context.WithCancel(context.Background())
	s := &SessionStore{
		db:    db,
		cfg:   cfg,
		stop:  stop,
		done:  make(chan struct{}),
		cache: make(map[digest]*cachedSession),
	}
	go func() {
		defer close(s.done)
		if cfg.CleanupInterval > 0 {
			s.sweep(ctx, cfg.CleanupInterval)
		}
	}()
	return s
}

// Close stops the cleanup goroutine and waits for it. It does not close the
// database, which belongs to the caller. Close is safe to call more than
// once; nothing it does can fail.
func (s *SessionStore) Close() error {
	s.stop()
	<-s.done
	return nil
}

// digest is the SHA-256 of a session token: the cache's key as it is,
// the database's in hex (see String). Every request hashes its token, so
// the cache is keyed without the hex string's allocations.
type digest [sha256.Size]byte

// digestOf returns the digest of a session token.
func digestOf(token string) digest {
	// Hashed from a copy on the stack: []byte(token) would allocate for a
	// token longer than 32 bytes, as scs's (43) are.
	var buf [64]byte
	if len(token) <= len(buf) {
		return sha256.Sum256(append(buf[:0], token...))
	}
	return sha256.Sum256([]byte(token))
}

// String returns d in hex, the database key.
func (d digest) String() string { return hex.EncodeToString(d[:]) }

// Find returns the data of the session with token, from the cache when it is
// there. An expired or unknown token is not found and is not an error.
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	e, ok, err := s.find(token)
	if !ok || err != nil {
		return nil, false, err
	}
	return bytes.Clone(e.data), true, nil
}

// FindValues is Find with the session's values decoded, as the codec
// decodes them: the cache's own map, which the caller must not modify, so
// that a request reads its session without copying or decoding it again.
// Data that does not decode is an error, as it is to scs.
func (s *SessionStore) FindValues(token string) (map[string]any, bool, error) {
	e, ok, err := s.find(token)
	if !ok || err != nil {
		return nil, false, err
	}
	if !e.decoded {
		return nil, false, fmt.Errorf("find session: %w", errBadSession)
	}
	return e.values, true, nil
}

// find returns the cache entry of the session with token, loading it from
// the database when it is not cached, and moves its idle deadline (see
// touch).
func (s *SessionStore) find(token string) (cachedSession, bool, error) {
	if token == "" {
		return cachedSession{}, false, nil
	}
	key, now := digestOf(token), s.cfg.Now()
	s.mu.Lock()
	cached, ok := s.cache[key]
	var e cachedSession
	if ok {
		e = *cached
	}
	gen := s.gen
	if ok && !now.Before(e.expiry) {
		delete(s.cache, key)
		ok = false
	}
	write := false
	if ok {
		// touch's usual case, done under this lock rather than another:
		// the idle deadline moves in the cache only.
		var next time.Time
		var move bool
		if next, move, write = s.idleMove(e, now); move && !write {
			e.expiry = next
			cached.expiry = next
		}
	}
	s.mu.Unlock()
	if ok {
		if write {
			if err := s.touch(key, e, now); err != nil {
				return cachedSession{}, false, err
			}
		}
		return e, true, nil
	}

	e, ok, err := s.load(key.String())
	if err != nil {
		return cachedSession{}, false, fmt.Errorf("find session: %w", tenant.MarkBusy(err))
	}
	if !ok || !now.Before(e.expiry) {
		return cachedSession{}, false, nil
	}
	s.mu.Lock()
	current := s.gen == gen
	if current {
		s.put(key, e)
	}
	s.mu.Unlock()
	if current {
		if err := s.touch(key, e, now); err != nil {
			return cachedSession{}, false, err
		}
	}
	return e, true, nil
}

// touch moves a session's idle deadline to now+IdleTimeout (never past its
// absolute deadline). The cache always moves; the database row only when
// the deadline has moved a CoalesceWindow past the stored one, or the
// stored one is within a window of lapsing: at most one write per session
// per window, and a session may end up to a window early after a restart.
func (s *SessionStore) touch(key digest, e cachedSession, now time.Time) error {
	next, move, write := s.idleMove(e, now)
	if !move {
		return nil
	}
	if !write {
		s.mu.Lock()
		if cur, ok := s.cache[key]; ok && bytes.Equal(cur.data, e.data) && next.After(cur.expiry) {
			cur.expiry = next
		}
		s.mu.Unlock()
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	var cur cachedSession
	p, ok := s.cache[key]
	if ok {
		cur = *p
	}
	s.mu.Unlock()
	if !ok || !bytes.Equal(cur.data, e.data) {
		return nil // changed or gone meanwhile: that writer decided
	}
	if err := s.extend(key.String(), next); err != nil {
		return fmt.Errorf("refresh session: %w", tenant.MarkBusy(err))
	}
	cur.stored, cur.expiry = next, next
	s.mu.Lock()
	s.put(key, cur)
	s.gen++
	s.mu.Unlock()
	return nil
}

// idleMove says how e's idle deadline moves when it is used at now (see
// touch): to next, if move; in the database row too, if write.
func (s *SessionStore) idleMove(e cachedSession, now time.Time) (next time.Time, move, write bool) {
	next, ok := s.idleDeadline(e, now)
	if !ok || !next.After(e.expiry) {
		return next, false, false
	}
	w := s.cfg.CoalesceWindow
	inWindow := next.Sub(e.stored) < w && e.stored.Sub(now) >= w
	return next, true, !inWindow
}

// idleDeadline is when e would end if used at now, if there is an idle
// timeout at all.
func (s *SessionStore) idleDeadline(e cachedSession, now time.Time) (time.Time, bool) {
	if s.cfg.IdleTimeout <= 0 {
		return time.Time{}, false
	}
	next := now.Add(s.cfg.IdleTimeout)
	if e.decoded && next.After(e.deadline) {
		next = e.deadline
	}
	return next, true
}

// decode builds the cache entry of data stored with expiry.
func (s *SessionStore) decode(data []byte, expiry time.Time) cachedSession {
	e := cachedSession{data: data, stored: expiry, expiry: expiry}
	deadline, values, err := s.cfg.Codec.Decode(data)
	if err == nil {
		e.deadline, e.values, e.decoded = deadline, values, true
	}
	return e
}

// put caches e under key, first dropping a random entry if the cache is
// full. The caller holds mu.
func (s *SessionStore) put(key digest, e cachedSession) {
	if _, ok := s.cache[key]; !ok && len(s.cache) >= s.cfg.CacheSize {
		for k := range s.cache {
			delete(s.cache, k)
			break
		}
	}
	s.cache[key] = &e
}

// Commit stores the session data b for token until expiry, unless the only
// change is an expiry moved forward by less than the coalescing window (see
// SessionStore).
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	key := digestOf(token)
	if idle := s.cfg.IdleTimeout; idle > 0 {
		if limit := s.cfg.Now().Add(idle); expiry.After(limit) {
			expiry = limit
		}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	var prev cachedSession
	p, cached := s.cache[key]
	if cached {
		prev = *p
	}
	s.mu.Unlock()
	var next cachedSession
	if cached && bytes.Equal(prev.data, b) {
		// The usual refresh: SessionCodec is deterministic, so equal bytes
		// are an equal session and need no decoding.
		next = prev
		next.stored, next.expiry = expiry, expiry
	} else {
		next = s.decode(bytes.Clone(b), expiry)
	}
	if cached && s.coalescible(prev, next, s.cfg.Now()) {
		prev.expiry = expiry
		s.mu.Lock()
		s.put(key, prev)
		s.mu.Unlock()
		return nil
	}

	if err := s.store(key.String(), next.data, expiry); err != nil {
		return fmt.Errorf("commit session: %w", tenant.MarkBusy(err))
	}
	s.mu.Lock()
	s.put(key, next)
	s.gen++
	s.mu.Unlock()
	return nil
}

// coalescible reports whether committing next over prev (what the database
// holds) may be skipped at now: same values, deadline and expiry each moved
// forward, if at all, by less than the window, and the row not within a
// window of expiring (so an idle timeout shorter than the window still
// writes every commit, and a row in use is rewritten before it lapses).
func (s *SessionStore) coalescible(prev, next cachedSession, now time.Time) bool {
	w := s.cfg.CoalesceWindow
	within := func(from, to time.Time) bool {
		return !to.Before(from) && to.Sub(from) < w
	}
	return prev.decoded && next.decoded &&
		prev.stored.Sub(now) >= w &&
		within(prev.stored, next.stored) &&
		within(prev.deadline, next.deadline) &&
		reflect.DeepEqual(prev.values, next.values)
}

// Delete removes the session with token from the database and the cache. An
// unknown token is not an error.
func (s *SessionStore) Delete(token string) error {
	if token == "" {
		return nil
	}
	key := digestOf(token)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.remove(key.String())
	s.forget(func(k digest, _ cachedSession) bool { return k == key })
	if err != nil {
		return fmt.Errorf("delete session: %w", tenant.MarkBusy(err))
	}
	return nil
}

// forget drops every cached session for which drop is true. The cache is
// purged even after a failed database write: the next read then asks the
// database rather than trusting memory.
func (s *SessionStore) forget(drop func(key digest, e cachedSession) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.cache {
		if drop(k, *e) {
			delete(s.cache, k)
		}
	}
	s.gen++
}
