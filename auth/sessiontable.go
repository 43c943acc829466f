package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// sessionSchema is the table SessionStore keeps its sessions in: its own
// format, written by nobody else. A row is keyed by the hex SHA-256 of its
// token, so a copy of routing.db holds no usable cookie, and its expiry is
// in Unix milliseconds.
const sessionSchema = `
CREATE TABLE IF NOT EXISTS auth_sessions (
	digest     TEXT PRIMARY KEY,
	data       BLOB NOT NULL,
	expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_expiry ON auth_sessions (expires_ms);`

// legacySessionTable is the table in which versions of cubby before issue
// 12 kept their sessions, through scs's sqlite3store: the same keys and
// data, with the expiry as a Julian day number (a REAL).
const legacySessionTable = "sessions"

// moveLegacySessions copies every row of the legacy table into
// auth_sessions, converting its expiry to Unix milliseconds (Julian day
// 2440587.5 is the Unix epoch), and drops the legacy table. Sessions
// signed in under an older version stay signed in; an older version run
// afterwards finds no table of its own and makes an empty one, so its
// users sign in again rather than keep sessions that never lapse.
const moveLegacySessions = `
INSERT OR IGNORE INTO auth_sessions (digest, data, expires_ms)
	SELECT token, data, CAST(round((expiry - 2440587.5) * 86400000.0) AS INTEGER) FROM sessions;
DROP TABLE sessions;`

// CreateSessionTable makes the table a SessionStore keeps its sessions in,
// if it is missing, and moves into it the sessions an earlier version of
// cubby kept in routing.db, in one transaction. It is safe to call again.
func CreateSessionTable(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create sessions table: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, sessionSchema); err != nil {
		return fmt.Errorf("create sessions table: %w", err)
	}
	var legacy int
	const q = `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`
	if err := tx.QueryRowContext(ctx, q, legacySessionTable).Scan(&legacy); err != nil {
		return fmt.Errorf("look for legacy sessions table: %w", err)
	}
	if legacy > 0 {
		if _, err := tx.ExecContext(ctx, moveLegacySessions); err != nil {
			return fmt.Errorf("move legacy sessions: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create sessions table: commit: %w", err)
	}
	return nil
}

// load reads one session row, expired or not.
func (s *SessionStore) load(key string) (cachedSession, bool, error) {
	const q = `SELECT data, expires_ms FROM auth_sessions WHERE digest = ?`
	var data []byte
	var ms int64
	err := s.db.QueryRow(q, key).Scan(&data, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return cachedSession{}, false, nil
	}
	if err != nil {
		return cachedSession{}, false, fmt.Errorf("read session row: %w", err)
	}
	return s.decode(data, time.UnixMilli(ms)), true, nil
}

// store writes the row of key, replacing any there is.
func (s *SessionStore) store(key string, data []byte, expiry time.Time) error {
	const q = `INSERT INTO auth_sessions (digest, data, expires_ms) VALUES (?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET data = excluded.data, expires_ms = excluded.expires_ms`
	if _, err := s.db.Exec(q, key, data, expiry.UnixMilli()); err != nil {
		return fmt.Errorf("write session row: %w", err)
	}
	return nil
}

// extend moves the expiry of the row of key, if there is one.
func (s *SessionStore) extend(key string, expiry time.Time) error {
	const q = `UPDATE auth_sessions SET expires_ms = ? WHERE digest = ?`
	if _, err := s.db.Exec(q, expiry.UnixMilli(), key); err != nil {
		return fmt.Errorf("extend session row: %w", err)
	}
	return nil
}

// remove deletes the row of key, if there is one.
func (s *SessionStore) remove(key string) error {
	if _, err := s.db.Exec(`DELETE FROM auth_sessions WHERE digest = ?`, key); err != nil {
		return fmt.Errorf("delete session row: %w", err)
	}
	return nil
}

// sweep deletes expired rows every interval until ctx is done. A failed
// sweep is logged and tried again at the next tick.
func (s *SessionStore) sweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			const q = `DELETE FROM auth_sessions WHERE expires_ms <= ?`
			_, err := s.db.ExecContext(ctx, q, s.cfg.Now().UnixMilli())
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.WarnContext(ctx, "delete expired sessions", "err", err)
			}
		}
	}
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
	s.forget(func(_ digest, e cachedSession) bool { return belongs(e.values) })
	if err != nil {
		return 0, fmt.Errorf("delete tenant sessions: %w", err)
	}
	return n, nil
}

// keysWhere returns the keys of the rows whose decoded values satisfy match.
// Rows that do not decode are skipped.
func (s *SessionStore) keysWhere(ctx context.Context, match func(map[string]any) bool) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT digest, data FROM auth_sessions`)
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
		res, err := tx.ExecContext(ctx, `DELETE FROM auth_sessions WHERE digest = ?`, key)
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
	return n, nil
}
