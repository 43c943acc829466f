package replica

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
)

// Litestream keeps two tables in every database it replicates and makes
// them, if missing, at its first sync, about a second after the database
// is attached. Made then, they change the schema under the application's
// statements, and a statement on an FTS5 table fails with "database schema
// has changed". So they are made here, before the pool hands the tenant
// out, with Litestream's own statements (db.go, DB.init, v0.5.18), which
// then find them there and change nothing.
const (
	createSeqTable  = `CREATE TABLE IF NOT EXISTS _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER);`
	createLockTable = `CREATE TABLE IF NOT EXISTS _litestream_lock (id INTEGER);`
)

// prepareFile makes Litestream's tables in the database at path, which
// must exist, on a connection of its own.
func prepareFile(ctx context.Context, path string) error {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	db, err := sql.Open("sqlite", "file:"+esc+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("open for replication: %w", err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name IN ('_litestream_seq', '_litestream_lock')`).Scan(&n); err != nil {
		return fmt.Errorf("read schema for replication: %w", err)
	}
	if n == 2 {
		return db.Close() // the usual case: nothing to write
	}
	if _, err := db.ExecContext(ctx, createSeqTable+createLockTable); err != nil {
		return fmt.Errorf("make replication tables: %w", err)
	}
	return db.Close()
}
