package tenant

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
)

// A Migration is one block of the per-tenant schema. Version N is the N-th
// block; a file whose PRAGMA user_version is N has applied blocks 1..N.
type Migration struct {
	Version int
	SQL     string
}

const migrationHeader = "-- migration:"

// ParseMigrations splits a schema file into its migrations. Each block starts
// with a line "-- migration: N"; blocks must be numbered 1, 2, 3… in order
// and none may be empty. Text before the first header may only be comments
// or blank lines. Each block is applied as one transaction, so none may
// hold a transaction statement of its own (BEGIN, COMMIT, END, ROLLBACK,
// SAVEPOINT, RELEASE); a trigger's BEGIN … END is fine.
func ParseMigrations(src string) ([]Migration, error) {
	var (
		out     []Migration
		cur     *Migration
		curLine int // of cur's header
		body    strings.Builder
	)
	flush := func() error {
		if cur == nil {
			return nil
		}
		cur.SQL = strings.TrimSpace(body.String())
		if !hasStatement(cur.SQL) {
			return fmt.Errorf("migration %d is empty", cur.Version)
		}
		if w, at := transactionStatement(body.String()); w != "" {
			line := curLine + 1 + strings.Count(body.String()[:at], "\n")
			return fmt.Errorf("line %d: %w", line, transactionError(cur.Version, w))
		}
		out = append(out, *cur)
		body.Reset()
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for line := 1; sc.Scan(); line++ {
		// A line's trailing carriage returns are its line ending, however
		// many an editor left: kept, "0\r\r\n" would read back as "0".
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff") // an editor's byte order mark
		}
		trimmed := strings.TrimSpace(text)
		if nearHeader(trimmed) && !strings.HasPrefix(trimmed, migrationHeader) {
			// Read as a comment, "-- Migration: 2" would silently join
			// block 1, and every file made since would fail the real
			// block 2 once it was fixed.
			return nil, fmt.Errorf("line %d: want a header %q, got %q", line, fmt.Sprintf("%s %d", migrationHeader, len(out)+1), trimmed)
		}
		if v, ok := strings.CutPrefix(trimmed, migrationHeader); ok {
			if err := flush(); err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n != len(out)+1 {
				return nil, fmt.Errorf("line %d: want %q, got %q", line, fmt.Sprintf("%s %d", migrationHeader, len(out)+1), trimmed)
			}
			cur, curLine = &Migration{Version: n}, line
			continue
		}
		if cur == nil {
			if trimmed != "" && !strings.HasPrefix(trimmed, "--") {
				return nil, fmt.Errorf("line %d: SQL before the first %q header", line, migrationHeader)
			}
			continue
		}
		body.WriteString(text)
		body.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %q blocks found", migrationHeader)
	}
	return out, nil
}

// nearHeader reports whether a line looks like a migration header however
// it is spaced or capitalized: "--migration: 2", "-- Migration 2".
func nearHeader(trimmed string) bool {
	rest, ok := strings.CutPrefix(trimmed, "--")
	if !ok {
		return false
	}
	rest = strings.ToLower(strings.TrimSpace(rest))
	word, ok := strings.CutPrefix(rest, "migration")
	if !ok {
		return false
	}
	word = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(word), ":"))
	_, err := strconv.Atoi(word)
	return err == nil
}

// hasStatement reports whether sql holds anything but comments and space.
func hasStatement(sql string) bool {
	for _, line := range strings.Split(sql, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "--") {
			return true
		}
	}
	return false
}

// MigrationError says which migration of which tenant failed.
type MigrationError struct {
	TenantID string
	Version  int
	Err      error
}

func (e *MigrationError) Error() string {
	return fmt.Sprintf("tenant %s: migration %d: %v", e.TenantID, e.Version, e.Err)
}

func (e *MigrationError) Unwrap() error { return e.Err }

// TooNewError means a tenant file was written by a newer binary.
type TooNewError struct {
	TenantID      string
	FileVersion   int
	BinaryVersion int
}

func (e *TooNewError) Error() string {
	return fmt.Sprintf("tenant %s: file is at schema version %d but this binary knows only %d; upgrade cubby",
		e.TenantID, e.FileVersion, e.BinaryVersion)
}

// userVersion reads the schema version a tenant file records.
func userVersion(ctx context.Context, db *sqlx.DB) (int, error) {
	var v int
	if err := db.GetContext(ctx, &v, "PRAGMA user_version"); err != nil {
		return 0, fmt.Errorf("read user_version: %w", err)
	}
	return v, nil
}

// migrate brings db up to the newest migration, one IMMEDIATE transaction per
// block, and returns the version it found and the version it left.
func migrate(ctx context.Context, id string, db *sqlx.DB, ms []Migration) (from, to int, err error) {
	from, err = userVersion(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	if from > len(ms) {
		return from, from, &TooNewError{TenantID: id, FileVersion: from, BinaryVersion: len(ms)}
	}
	for _, m := range ms[from:] {
		if err := applyMigration(ctx, db, m); err != nil {
			return from, m.Version - 1, &MigrationError{TenantID: id, Version: m.Version, Err: err}
		}
	}
	return from, len(ms), nil
}

// applyMigration applies m in one transaction with its version bump; a
// transaction statement in m is refused by SQLite (see txGuard), and
// nothing of m is kept.
func applyMigration(ctx context.Context, db *sqlx.DB, m Migration) error {
	conn, g, err := guardConn(ctx, db)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	err = g.exec(ctx, conn, m.SQL)
	if what := g.refusal(); what != "" {
		return transactionError(m.Version, what)
	}
	if err != nil {
		return err
	}
	// PRAGMA takes no bound parameters; Version is an int we parsed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
		return fmt.Errorf("set user_version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
