package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"reflect"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Store is one tenant's database for the length of one request. It is the
// only way to reach a tenant's file, and it reaches no other. It is valid
// until the release function that came with it is called.
//
// Errors that mean the file itself is broken (corrupt, not a database) are
// wrapped with ErrUnavailable.
type Store struct {
	id   string
	path string
	db   *sqlx.DB
}

// TenantID is the id of the tenant this store belongs to.
func (s *Store) TenantID() string { return s.id }

// SizeBytes is the size of the tenant's file plus its WAL. A file that has
// left its path is ErrUnavailable.
func (s *Store) SizeBytes() (int64, error) {
	n, err := fileSize(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: tenant %s: size of tenant file: %w", ErrUnavailable, s.id, err)
	}
	if err != nil {
		return 0, fmt.Errorf("size of tenant file: %w", err)
	}
	return n, nil
}

// GetContext scans the first row into dest (see sqlx); no row is
// sql.ErrNoRows. It reads the statement to its end: SQLite checkpoints the
// WAL only when a write steps to its end, and database/sql's QueryRow stops
// after the first row, so every INSERT … RETURNING through it would grow
// the WAL without bound. Use it for statements that return one row.
func (s *Store) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	v := reflect.ValueOf(dest)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return fmt.Errorf("tenant: GetContext needs a non-nil pointer, not %T", dest)
	}
	// sqlx's Select reads to the end and scans as its Get does.
	rows := reflect.New(reflect.SliceOf(v.Type().Elem()))
	if err := sqlx.SelectContext(ctx, s.db, rows.Interface(), query, args...); err != nil {
		return classify(err)
	}
	if rows.Elem().Len() == 0 {
		return sql.ErrNoRows
	}
	v.Elem().Set(rows.Elem().Index(0))
	return nil
}

// SelectContext scans every row into the slice dest (see sqlx).
func (s *Store) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	return classify(s.db.SelectContext(ctx, dest, query, args...))
}

// ExecContext runs a statement that returns no rows.
func (s *Store) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := s.db.ExecContext(ctx, query, args...)
	return r, classify(err)
}

// Tx runs fn in one write transaction (BEGIN IMMEDIATE), committing when fn
// returns nil and rolling back otherwise. fn must use tx, not the Store.
func (s *Store) Tx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return classify(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return classify(err)
	}
	if err := tx.Commit(); err != nil {
		return classify(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// classify marks errors that come from running out of file descriptors
// as ErrBusy, and those that say the file is broken as ErrUnavailable.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBusy) {
		return err
	}
	if outOfFiles(err) {
		return MarkBusy(err)
	}
	if brokenFile(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func brokenFile(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR:
		return true
	}
	return false
}
