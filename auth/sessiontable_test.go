package auth

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// legacySchema and legacyCommit are how cubby kept sessions before it owned
// its table (scs's sqlite3store): a fixture of what existing routing.db
// files hold.
const (
	legacySchema = `
CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB NOT NULL, expiry REAL NOT NULL);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);`
	legacyCommit = `REPLACE INTO sessions (token, data, expiry) VALUES (?, ?, julianday(?))`
)

// openLegacyRoutingDB opens a database on t.TempDir() holding only the
// legacy sessions table.
func openLegacyRoutingDB(t *testing.T) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "routing.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		t.Fatalf("open routing db: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(legacySchema); err != nil {
		t.Fatalf("create legacy table: %v", err)
	}
	return db
}

// Sessions signed in before the store owned its table stay signed in, with
// the data and expiry they had, and expired ones stay expired; the legacy
// table is gone, so nothing is left in a format nobody maintains.
func TestCreateSessionTableKeepsLegacySessions(t *testing.T) {
	clock := newFakeClock()
	db := openLegacyRoutingDB(t)
	live := encodeSession(t, clock.Now().Add(30*24*time.Hour), map[string]any{SessionTenantKey: "t1"})
	liveExpiry := clock.Now().Add(7*24*time.Hour + 123*time.Millisecond)
	legacy := []struct {
		token  string
		data   []byte
		expiry time.Time
	}{
		{"live", live, liveExpiry},
		{"expired", live, clock.Now().Add(-time.Second)},
	}
	for _, l := range legacy {
		if _, err := db.Exec(legacyCommit, hashToken(l.token), l.data, l.expiry.UTC().Format("2006-01-02T15:04:05.999")); err != nil {
			t.Fatalf("write legacy row: %v", err)
		}
	}
	for range 2 { // a second run finds nothing left to move
		if err := CreateSessionTable(context.Background(), db); err != nil {
			t.Fatalf("CreateSessionTable: %v", err)
		}
	}

	s := newTestStore(t, db, SessionStoreConfig{Now: clock.Now})
	if got := mustFind(t, s, "live", true); !bytes.Equal(got, live) {
		t.Fatal("a moved session reads different bytes")
	}
	mustFind(t, s, "expired", false)
	e, ok, err := s.load(hashToken("live"))
	if err != nil || !ok || !e.stored.Equal(liveExpiry) {
		t.Fatalf("moved expiry = %v (found %v, %v), want %v", e.stored, ok, err, liveExpiry)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name LIKE 'sessions%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d legacy tables or indexes left (%v), want 0", n, err)
	}

	// The moved session lapses when it did before the move.
	clock.Advance(liveExpiry.Sub(clock.Now()))
	mustFind(t, newTestStore(t, db, SessionStoreConfig{Now: clock.Now}), "live", false)
}

// The cleanup goroutine deletes rows once they have expired, by the store's
// clock, and leaves live ones; Close stops it.
func TestSessionStoreSweepsExpiredRows(t *testing.T) {
	clock := newFakeClock()
	db := openRoutingDB(t)
	s := NewSessionStore(db, SessionStoreConfig{CleanupInterval: time.Millisecond, IdleTimeout: -1, Now: clock.Now})
	defer s.Close()
	for _, tok := range []string{"short", "long"} {
		exp := clock.Now().Add(time.Hour)
		if tok == "long" {
			exp = exp.Add(time.Hour)
		}
		if err := s.Commit(tok, encodeSession(t, exp, nil), exp); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	clock.Advance(time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for len(rowTokens(t, db)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("rows %q still there; want only the live one", rowTokens(t, db))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rows := rowTokens(t, db); rows[0] != hashToken("long") {
		t.Fatalf("the sweep kept %q, want the live session", rows)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// A browser signed in before the upgrade is still signed in after it: its
// cookie, issued by scs over the legacy table, finds its session once
// CreateSessionTable has moved the rows.
func TestSessionManagerSignedInBeforeUpgradeStaysSignedIn(t *testing.T) {
	db := openRoutingDB(t)
	var offset atomic.Int64
	_, cookie := newSessionApp(t, db, &offset).do(t, "POST", "/login", nil)
	if cookie == nil {
		t.Fatal("login set no session cookie")
	}
	// Put the row back as the legacy store kept it, as if written before
	// the upgrade.
	const downgrade = `
CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB NOT NULL, expiry REAL NOT NULL);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);
INSERT INTO sessions SELECT digest, data, expires_ms / 86400000.0 + 2440587.5 FROM auth_sessions;
DROP TABLE auth_sessions;`
	if _, err := db.Exec(downgrade); err != nil {
		t.Fatalf("write the legacy table: %v", err)
	}
	if err := CreateSessionTable(context.Background(), db); err != nil {
		t.Fatalf("CreateSessionTable: %v", err)
	}
	if body, _ := newSessionApp(t, db, &offset).do(t, "GET", "/whoami", cookie); body != "tenant-1" {
		t.Fatalf("after the upgrade: tenant = %q, want tenant-1", body)
	}
}
