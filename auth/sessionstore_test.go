package auth

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// openRoutingDB opens a routing-like database on t.TempDir() with the
// sessions table.
func openRoutingDB(t *testing.T) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "routing.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		t.Fatalf("open routing db: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	for range 2 { // creating twice must be harmless
		if err := CreateSessionTable(context.Background(), db); err != nil {
			t.Fatalf("CreateSessionTable: %v", err)
		}
	}
	return db
}

// newTestStore returns a store over db, closed when the test ends.
func newTestStore(t *testing.T, db *sql.DB, cfg SessionStoreConfig) *SessionStore {
	t.Helper()
	if cfg.CleanupInterval == 0 {
		cfg.CleanupInterval = -1
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = -1 // these tests drive expiry through Commit, as scs's IdleTimeout would
	}
	s := NewSessionStore(db, cfg)
	t.Cleanup(func() { s.Close() })
	return s
}

// encodeSession encodes a session as scs would.
func encodeSession(t *testing.T, deadline time.Time, values map[string]any) []byte {
	t.Helper()
	b, err := SessionCodec{}.Encode(deadline, values)
	if err != nil {
		t.Fatalf("encode session: %v", err)
	}
	return b
}

// rowTokens returns the key (token digest) of every row.
func rowTokens(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT digest FROM auth_sessions ORDER BY digest`)
	if err != nil {
		t.Fatalf("list tokens: %v", err)
	}
	defer rows.Close()
	var tokens []string
	for rows.Next() {
		var tok string
		if err := rows.Scan(&tok); err != nil {
			t.Fatalf("scan token: %v", err)
		}
		tokens = append(tokens, tok)
	}
	return tokens
}

// countWrites returns a function that counts the session rows written to
// db (inserted, updated or deleted) since countWrites was called, as seen
// by triggers on the table: what the store writes, whatever its code.
func countWrites(t *testing.T, db *sql.DB) func() int {
	t.Helper()
	const install = `
CREATE TABLE IF NOT EXISTS test_session_writes (n INTEGER NOT NULL);
INSERT INTO test_session_writes SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM test_session_writes);
CREATE TRIGGER IF NOT EXISTS test_count_insert AFTER INSERT ON auth_sessions
	BEGIN UPDATE test_session_writes SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS test_count_update AFTER UPDATE ON auth_sessions
	BEGIN UPDATE test_session_writes SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS test_count_delete AFTER DELETE ON auth_sessions
	BEGIN UPDATE test_session_writes SET n = n + 1; END;`
	if _, err := db.Exec(install); err != nil {
		t.Fatalf("install write counters: %v", err)
	}
	read := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow(`SELECT n FROM test_session_writes`).Scan(&n); err != nil {
			t.Fatalf("read write count: %v", err)
		}
		return n
	}
	start := read()
	return func() int { return read() - start }
}

func mustFind(t *testing.T, s *SessionStore, token string, want bool) []byte {
	t.Helper()
	b, found, err := s.Find(token)
	if err != nil {
		t.Fatalf("Find(%q): %v", token, err)
	}
	if found != want {
		t.Fatalf("Find(%q) found = %v, want %v", token, found, want)
	}
	return b
}

func TestSessionStoreKeepsOnlyTokenDigests(t *testing.T) {
	clock := newFakeClock()
	db := openRoutingDB(t)
	s := newTestStore(t, db, SessionStoreConfig{Now: clock.Now})
	data := encodeSession(t, clock.Now().Add(time.Hour), map[string]any{SessionTenantKey: "t1"})
	if err := s.Commit("secret-token", data, clock.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	tokens := rowTokens(t, db)
	if len(tokens) != 1 || tokens[0] != hashToken("secret-token") || len(tokens[0]) != 64 {
		t.Fatalf("rows keyed by %q, want only the SHA-256 hex of the token", tokens)
	}
	// A second process reading the same file finds it by the token alone.
	fresh := newTestStore(t, db, SessionStoreConfig{Now: clock.Now})
	if got := mustFind(t, fresh, "secret-token", true); !bytes.Equal(got, data) {
		t.Fatal("fresh store read different bytes")
	}
	mustFind(t, fresh, hashToken("secret-token"), false)
}

func TestSessionStoreServesReadsFromCache(t *testing.T) {
	clock := newFakeClock()
	db := openRoutingDB(t)
	writer := newTestStore(t, db, SessionStoreConfig{Now: clock.Now})
	data := encodeSession(t, clock.Now().Add(time.Hour), map[string]any{"k": "v"})
	for _, tok := range []string{"committed", "loaded"} {
		if err := writer.Commit(tok, data, clock.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	reader := newTestStore(t, db, SessionStoreConfig{Now: clock.Now})
	mustFind(t, reader, "loaded", true) // a database read fills the cache

	if _, err := db.Exec(`DELETE FROM auth_sessions`); err != nil {
		t.Fatalf("empty table behind the stores' backs: %v", err)
	}
	mustFind(t, writer, "committed", true) // cached by Commit
	mustFind(t, reader, "loaded", true)    // cached by Find
	mustFind(t, reader, "committed", false)
}

func TestSessionStoreCacheIsBounded(t *testing.T) {
	clock := newFakeClock()
	db := openRoutingDB(t)
	s := newTestStore(t, db, SessionStoreConfig{CacheSize: 10, Now: clock.Now})
	exp := clock.Now().Add(time.Hour)
	for i := range 100 {
		tok := fmt.Sprintf("token-%d", i)
		if err := s.Commit(tok, encodeSession(t, exp, map[string]any{"i": fmt.Sprint(i)}), exp); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		mustFind(t, s, tok, true)
	}
	for i := range 100 {
		mustFind(t, s, fmt.Sprintf("token-%d", i), true)
	}
	s.mu.Lock()
	n := len(s.cache)
	s.mu.Unlock()
	if n > 10 {
		t.Fatalf("cache holds %d sessions, want at most 10", n)
	}
}

// reorderedEncodings returns two encodings of one map whose bytes differ:
// the codec's own (keys sorted) and version 1's JSON with the keys written
// in reverse.
func reorderedEncodings(t *testing.T, deadline time.Time, values map[string]any) ([]byte, []byte) {
	t.Helper()
	first := encodeSession(t, deadline, values)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	var js bytes.Buffer
	js.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			js.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(values[k])
		js.Write(kb)
		js.WriteByte(':')
		js.Write(vb)
	}
	js.WriteByte('}')
	second := append(append([]byte(nil), first[:9]...), js.Bytes()...)
	second[0] = codecJSON
	if bytes.Equal(first, second) {
		t.Fatal("reordered encoding is identical; cannot test reordering")
	}
	return first, second
}

func TestSessionStoreCoalescesExpiryOnlyCommits(t *testing.T) {
	clock := newFakeClock()
	now := clock.Now()
	deadline := now.Add(30 * 24 * time.Hour)
	values := map[string]any{SessionTenantKey: "t1", "a": "1", "b": "true", "c": "x", "d": "2.5", "e": "7"}
	changed := map[string]any{SessionTenantKey: "t1", "a": "2", "b": "true", "c": "x", "d": "2.5", "e": "7"}
	base, reordered := reorderedEncodings(t, deadline, values)
	week := 7 * 24 * time.Hour

	tests := []struct {
		name       string
		baseExpiry time.Duration
		data       []byte
		expiry     time.Duration
		wantWrite  bool
	}{
		{"identical bytes, expiry +1m", week, base, week + time.Minute, false},
		{"reordered bytes, expiry +4m59s", week, reordered, week + 4*time.Minute + 59*time.Second, false},
		{"same expiry", week, base, week, false},
		{"expiry +5m reaches the window", week, base, week + 5*time.Minute, true},
		{"expiry moved back", week, base, week - time.Second, true},
		{"value changed", week, encodeSession(t, deadline, changed), week + time.Second, true},
		{"value removed", week, encodeSession(t, deadline, map[string]any{"a": "1"}), week, true},
		{"deadline moved", week, encodeSession(t, deadline.Add(time.Hour), values), week, true},
		{"undecodable data", week, []byte("not gob"), week, true},
		{"row about to lapse", 4 * time.Minute, base, 4*time.Minute + time.Second, true},
	}
	db := openRoutingDB(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t, db, SessionStoreConfig{Now: clock.Now})
			writes := countWrites(t, db)
			tok := fmt.Sprintf("token-%d", i)
			if err := s.Commit(tok, base, now.Add(tt.baseExpiry)); err != nil {
				t.Fatalf("first Commit: %v", err)
			}
			if err := s.Commit(tok, tt.data, now.Add(tt.expiry)); err != nil {
				t.Fatalf("second Commit: %v", err)
			}
			if got, want := writes(), map[bool]int{false: 1, true: 2}[tt.wantWrite]; got != want {
				t.Fatalf("%d rows written, want %d", got, want)
			}
			if got := mustFind(t, s, tok, true); !bytes.Equal(got, base) && !tt.wantWrite {
				t.Fatal("a coalesced commit changed the data served")
			}
		})
	}
}

func TestSessionStoreCoalescesAfterRestart(t *testing.T) {
	clock := newFakeClock()
	db := openRoutingDB(t)
	exp := clock.Now().Add(time.Hour)
	data := encodeSession(t, exp, map[string]any{"k": "v"})
	if err := newTestStore(t, db, SessionStoreConfig{Now: clock.Now}).Commit("tok", data, exp); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	s := newTestStore(t, db, SessionStoreConfig{Now: clock.Now})
	writes := countWrites(t, db)
	mustFind(t, s, "tok", true)
	if err := s.Commit("tok", data, exp.Add(time.Minute)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n := writes(); n != 0 {
		t.Fatalf("%d rows written after an expiry-only commit on a loaded session, want 0", n)
	}
}

func TestSessionStoreExpiry(t *testing.T) {
	clock := newFakeClock()
	db := openRoutingDB(t)
	s := newTestStore(t, db, SessionStoreConfig{Now: clock.Now})
	exp := clock.Now().Add(time.Hour)
	if err := s.Commit("tok", encodeSession(t, exp, map[string]any{"k": "v"}), exp); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	clock.Advance(time.Hour - time.Millisecond)
	mustFind(t, s, "tok", true)
	mustFind(t, newTestStore(t, db, SessionStoreConfig{Now: clock.Now}), "tok", true)
	clock.Advance(time.Millisecond)
	mustFind(t, s, "tok", false)                                                       // from the cache
	mustFind(t, newTestStore(t, db, SessionStoreConfig{Now: clock.Now}), "tok", false) // from the database
}

func TestSessionStoreDelete(t *testing.T) {
	clock := newFakeClock()
	db := openRoutingDB(t)
	s := newTestStore(t, db, SessionStoreConfig{Now: clock.Now})
	exp := clock.Now().Add(time.Hour)
	if err := s.Commit("tok", encodeSession(t, exp, nil), exp); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	mustFind(t, s, "tok", true)
	for _, tok := range []string{"tok", "tok", "unknown", ""} {
		if err := s.Delete(tok); err != nil {
			t.Fatalf("Delete(%q): %v", tok, err)
		}
	}
	mustFind(t, s, "tok", false)
	if rows := rowTokens(t, db); len(rows) != 0 {
		t.Fatalf("rows left after Delete: %q", rows)
	}
}

func TestSessionStoreDeleteTenant(t *testing.T) {
	clock := newFakeClock()
	db := openRoutingDB(t)
	s := newTestStore(t, db, SessionStoreConfig{Now: clock.Now})
	sessions := []struct {
		token  string
		values map[string]any
		expiry time.Duration
		gone   bool
	}{
		{"a1", map[string]any{SessionTenantKey: "A"}, time.Hour, true},
		{"a2", map[string]any{SessionTenantKey: "A", "x": "1"}, time.Hour, true},
		{"a-expired", map[string]any{SessionTenantKey: "A"}, -time.Hour, true},
		{"b1", map[string]any{SessionTenantKey: "B"}, time.Hour, false},
		{"anon", map[string]any{"x": "A"}, time.Hour, false},
		{"other-value", map[string]any{SessionTenantKey: "AA"}, time.Hour, false},
	}
	for _, ss := range sessions {
		exp := clock.Now().Add(ss.expiry)
		if err := s.Commit(ss.token, encodeSession(t, exp, ss.values), exp); err != nil {
			t.Fatalf("Commit(%s): %v", ss.token, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO auth_sessions (digest, data, expires_ms) VALUES ('junk', x'00', 0)`); err != nil {
		t.Fatalf("insert undecodable row: %v", err)
	}
	n, err := s.DeleteTenant(context.Background(), "A")
	if err != nil || n != 3 {
		t.Fatalf("DeleteTenant = %d, %v; want 3, nil", n, err)
	}
	for _, ss := range sessions {
		if ss.expiry > 0 {
			mustFind(t, s, ss.token, !ss.gone)
		}
	}
	if rows := rowTokens(t, db); len(rows) != 4 {
		t.Fatalf("%d rows left, want 4 (b1, anon, other-type, junk)", len(rows))
	}
	if _, err := s.DeleteTenant(context.Background(), ""); err == nil {
		t.Fatal("DeleteTenant accepted an empty tenant id")
	}
}

func TestSessionStoreCloseTwice(t *testing.T) {
	s := NewSessionStore(openRoutingDB(t), SessionStoreConfig{CleanupInterval: time.Hour})
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

// hashToken returns the database key of a session token.
func hashToken(token string) string { return digestOf(token).String() }
