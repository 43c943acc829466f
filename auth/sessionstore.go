package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"

	"cubby/tenant"
)

// SessionTenantKey is the session value key under which the signed-in
// tenant's id (a string) is kept.
const SessionTenantKey = "tenant_id"

// createSessionTable is the table and index sqlite3store expects. Tokens in
// it are hex SHA-256 digests, not the cookie values.
const createSessionTable = `
CREATE TABLE IF NOT EXISTS sessions (
	token  TEXT PRIMARY KEY,
	data   BLOB NOT NULL,
	expiry REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry);`

// CreateSessionTable creates the sessions table and its expiry index in db if
// they are missing.
func CreateSessionTable(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, createSessionTable); err != nil {
		return fmt.Errorf("create sessions table: %w", err)
	}
	return nil
}

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
	return c
}

// SessionStore is the scs.Store of cubby's sessions, kept in the sessions
// table of routing.db through sqlite3store, with three changes:
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
// digests, from which the tokens All must return cannot be recovered.
type SessionStore struct {
	db     *sql.DB
	inner  *sqlite3store.SQLite3Store
	cfg    SessionStoreConfig
	writes atomic.Uint64
	stop   sync.Once

	// writeMu serialises writers, so the database and the cache agree
	// after each.
	writeMu sync.Mutex
	// mu guards cache and gen. gen counts writes, so a read that went to
	// the database can tell that a write raced it and not cache stale data.
	mu    sync.Mutex
	cache map[string]cachedSession
	gen   uint64
}

// cachedSession is what the database holds for one session, decoded, plus
// the latest expiry asked for. Values of this type are never modified once
// in the cache; they are replaced.
type cachedSession struct {
	data     []byte
	deadline time.Time      // decoded from data
	values   map[string]any // decoded from data
	decoded  bool           // whether data decoded; if not, never coalesce
	stored   time.Time      // expiry of the database row
	expiry   time.Time      // expiry as last committed; >= stored
}

// NewSessionStore returns a SessionStore over db, which must hold the table
// made by CreateSessionTable. It starts sqlite3store's cleanup goroutine
// unless cfg.CleanupInterval is negative; Close stops it.
func NewSessionStore(db *sql.DB, cfg SessionStoreConfig) *SessionStore {
	cfg = cfg.withDefaults()
	return &SessionStore{
		db:    db,
		inner: sqlite3store.NewWithConfig(db, sqlite3store.Config{CleanUpInterval: max(cfg.CleanupInterval, 0)}),
		cfg:   cfg,
		cache: make(map[string]cachedSession),
	}
}

// Close stops the cleanup goroutine. It does not close the database, which
// belongs to the caller. Close is safe to call more than once.
func (s *SessionStore) Close() error {
	s.stop.Do(s.inner.StopCleanup)
	return nil
}

// Writes returns how many writes the store has made to the database.
func (s *SessionStore) Writes() uint64 { return s.writes.Load() }

// hashToken returns the database key of a session token.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Find returns the data of the session with token, from the cache when it is
// there. An expired or unknown token is not found and is not an error.
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	if token == "" {
		return nil, false, nil
	}
	key, now := hashToken(token), s.cfg.Now()
	s.mu.Lock()
	e, ok := s.cache[key]
	gen := s.gen
	if ok && !now.Before(e.expiry) {
		delete(s.cache, key)
		ok = false
	}
	s.mu.Unlock()
	if ok {
		if err := s.touch(key, e, now); err != nil {
			return nil, false, err
		}
		return bytes.Clone(e.data), true, nil
	}

	e, ok, err := s.load(key)
	if err != nil {
		return nil, false, fmt.Errorf("find session: %w", tenant.MarkBusy(err))
	}
	if !ok || !now.Before(e.expiry) {
		return nil, false, nil
	}
	s.mu.Lock()
	cached := s.gen == gen
	if cached {
		s.put(key, e)
	}
	s.mu.Unlock()
	if cached {
		if err := s.touch(key, e, now); err != nil {
			return nil, false, err
		}
	}
	return bytes.Clone(e.data), true, nil
}

// touch moves a session's idle deadline to now+IdleTimeout (never past its
// absolute deadline). The cache always moves; the database row only when
// the deadline has moved a CoalesceWindow past the stored one, or the
// stored one is within a window of lapsing: at most one write per session
// per window, and a session may end up to a window early after a restart.
func (s *SessionStore) touch(key string, e cachedSession, now time.Time) error {
	next, ok := s.idleDeadline(e, now)
	if !ok || !next.After(e.expiry) {
		return nil
	}
	w := s.cfg.CoalesceWindow
	if next.Sub(e.stored) < w && e.stored.Sub(now) >= w {
		s.mu.Lock()
		if cur, ok := s.cache[key]; ok && bytes.Equal(cur.data, e.data) && next.After(cur.expiry) {
			cur.expiry = next
			s.cache[key] = cur
		}
		s.mu.Unlock()
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	cur, ok := s.cache[key]
	s.mu.Unlock()
	if !ok || !bytes.Equal(cur.data, e.data) {
		return nil // changed or gone meanwhile: that writer decided
	}
	const q = "UPDATE sessions SET expiry = julianday(?) WHERE token = ?"
	if _, err := s.db.Exec(q, next.UTC().Format("2006-01-02T15:04:05.999"), key); err != nil {
		return fmt.Errorf("refresh session: %w", tenant.MarkBusy(err))
	}
	s.writes.Add(1)
	cur.stored, cur.expiry = next, next
	s.mu.Lock()
	s.put(key, cur)
	s.gen++
	s.mu.Unlock()
	return nil
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

// load reads one session row, expired or not.
func (s *SessionStore) load(key string) (cachedSession, bool, error) {
	const q = `SELECT data, (expiry - 2440587.5) * 86400000.0 FROM sessions WHERE token = ?`
	var data []byte
	var unixMilli float64
	err := s.db.QueryRow(q, key).Scan(&data, &unixMilli)
	if errors.Is(err, sql.ErrNoRows) {
		return cachedSession{}, false, nil
	}
	if err != nil {
		return cachedSession{}, false, fmt.Errorf("read session row: %w", err)
	}
	expiry := time.UnixMilli(int64(math.Round(unixMilli)))
	return s.decode(data, expiry), true, nil
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
func (s *SessionStore) put(key string, e cachedSession) {
	if _, ok := s.cache[key]; !ok && len(s.cache) >= s.cfg.CacheSize {
		for k := range s.cache {
			delete(s.cache, k)
			break
		}
	}
	s.cache[key] = e
}

// Commit stores the session data b for token until expiry, unless the only
// change is an expiry moved forward by less than the coalescing window (see
// SessionStore).
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	key := hashToken(token)
	if idle := s.cfg.IdleTimeout; idle > 0 {
		if limit := s.cfg.Now().Add(idle); expiry.After(limit) {
			expiry = limit
		}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	prev, cached := s.cache[key]
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

	if err := s.inner.Commit(key, next.data, expiry); err != nil {
		return fmt.Errorf("commit session: %w", tenant.MarkBusy(err))
	}
	s.writes.Add(1)
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
	key := hashToken(token)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.inner.Delete(key)
	s.forget(func(k string, _ cachedSession) bool { return k == key })
	if err != nil {
		return fmt.Errorf("delete session: %w", tenant.MarkBusy(err))
	}
	s.writes.Add(1)
	return nil
}

// forget drops every cached session for which drop is true. The cache is
// purged even after a failed database write: the next read then asks the
// database rather than trusting memory.
func (s *SessionStore) forget(drop func(key string, e cachedSession) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.cache {
		if drop(k, e) {
			delete(s.cache, k)
		}
	}
	s.gen++
}

// DeleteTenant removes every session, live or expired, whose SessionTenantKey
// value is tenantID, and returns how many rows it deleted. It reads and
// decodes every row, so it suits rare events such as deleting an account.
func (s *SessionStore) DeleteTenant(ctx context.Context, tenantID string) (int, error) {
	if tenantID == "" {
		return 0, errors.New("delete tenant sessions: empty tenant id")
	}
	belongs := func(values map[string]any) bool {
		v, ok := values[SessionTenantKey].(string)
		return ok && v == tenantID
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	keys, err := s.keysWhere(ctx, belongs)
	if err != nil {
		return 0, fmt.Errorf("delete tenant sessions: %w", err)
	}
	n, err := s.deleteKeys(ctx, keys)
	s.forget(func(_ string, e cachedSession) bool { return belongs(e.values) })
	if err != nil {
		return 0, fmt.Errorf("delete tenant sessions: %w", err)
	}
	return n, nil
}

// keysWhere returns the keys of the rows whose decoded values satisfy match.
// Rows that do not decode are skipped.
func (s *SessionStore) keysWhere(ctx context.Context, match func(map[string]any) bool) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT token, data FROM sessions`)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var key string
		var data []byte
		if err := rows.Scan(&key, &data); err != nil {
			return nil, fmt.Errorf("scan session: %w", err)
		}
		if _, values, err := s.cfg.Codec.Decode(data); err == nil && match(values) {
			keys = append(keys, key)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return keys, nil
}

// deleteKeys deletes the rows with keys in one transaction and returns how
// many there were.
func (s *SessionStore) deleteKeys(ctx context.Context, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	n := 0
	for _, key := range keys {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token = ?`, key)
		if err != nil {
			return 0, fmt.Errorf("delete session row: %w", err)
		}
		affected, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("count deleted rows: %w", err)
		}
		n += int(affected)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	s.writes.Add(1)
	return n, nil
}
