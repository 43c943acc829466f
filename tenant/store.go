package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"sync/atomic"

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
//
// A Store may run a SELECT on a second, read-only connection to the same
// file when the handle's own is busy with another request (see the pool's
// readers), so state that belongs to one connection does not carry from
// one statement to the next: a temporary table, a PRAGMA a statement set,
// what last_insert_rowid() or changes() answer. Run statements that need
// one connection in one Tx.
type Store struct {
	id    string
	db    *sqlx.DB
	stmts *stmtCache // the handle's: every query runs prepared through it
	pool  *Pool      // to lend the handle a second connection; nil in a Store made otherwise
	e     *entry
	// lazy is set in a Store from AcquireLazily that was made without
	// opening the file: db, stmts and e are set by its first statement.
	lazy     *lazyOpen
	released atomic.Bool
	inTx     atomic.Int32 // this Store's Tx calls under way (see ready)
}

// release gives the handle back, once.
func (s *Store) release() {
	if s.released.CompareAndSwap(false, true) {
		s.pool.release(s.e)
	}
}

// TenantID is the id of the tenant this store belongs to.
func (s *Store) TenantID() string { return s.id }

// Memo is the tenant's memo, where an app may keep what it read (see Memo
// for the rules): its open handle's, or, for a Store from AcquireLazily
// that has not opened the file, the one kept for its closed handle; nil,
// which keeps nothing, for a Store made outside a pool or a pool whose
// memos are off.
func (s *Store) Memo() *Memo {
	if s.lazy != nil {
		return s.lazy.memo
	}
	if s.e == nil {
		return nil
	}
	return s.e.memo
}

// SizeBytes is the size of the tenant's file plus its WAL. A file that has
// left its path is ErrUnavailable.
func (s *Store) SizeBytes() (int64, error) {
	n, err := fileSize(s.pool.tenantPath(s.id))
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
	if err := s.ready(ctx, query); err != nil {
		return err
	}
	q, err := s.prepare(ctx, query)
	if err != nil {
		return classify(err)
	}
	rows, err := q.QueryxContext(ctx, query, args...)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	found := false
	for rows.Next() { // to the end, scanning the first row only
		if found {
			continue
		}
		if err := scanRow(rows, dest, v.Type().Elem()); err != nil {
			return classify(err)
		}
		found = true
	}
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	if !found {
		return sql.ErrNoRows
	}
	return classify(rows.Close())
}

// scanRow scans the current row as sqlx's Get would: into dest itself
// when it is a scanner or not a struct, else field by field.
func scanRow(rows *sqlx.Rows, dest any, t reflect.Type) error {
	if reflect.PointerTo(t).Implements(scannerType) || t.Kind() != reflect.Struct ||
		len(rows.Mapper.TypeMap(t).Index) == 0 {
		return rows.Scan(dest)
	}
	return rows.StructScan(dest)
}

var scannerType = reflect.TypeFor[sql.Scanner]()

// SelectContext scans every row into the slice dest (see sqlx).
func (s *Store) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	if err := s.ready(ctx, query); err != nil {
		return err
	}
	q, err := s.prepare(ctx, query)
	if err != nil {
		return classify(err)
	}
	return classify(sqlx.SelectContext(ctx, q, dest, query, args...))
}

// QueryContext runs a query and returns its rows, for callers that scan
// them by hand; the caller closes them. A statement that writes must be
// read to its end (Next until false) for the reason GetContext gives.
// Errors from the rows themselves are not classified: pass them through
// Classify.
func (s *Store) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := s.ready(ctx, query); err != nil {
		return nil, err
	}
	q, err := s.prepare(ctx, query)
	if err != nil {
		return nil, classify(err)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	return rows, classify(err)
}

// ExecContext runs a statement that returns no rows.
func (s *Store) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := s.ready(ctx, ""); err != nil {
		return nil, err
	}
	st, err := s.stmts.PrepareContext(ctx, query)
	if err != nil {
		return nil, classify(err)
	}
	var r sql.Result
	if st != nil {
		r, err = st.ExecContext(ctx, args...)
	} else {
		r, err = s.db.ExecContext(ctx, query, args...)
	}
	return r, classify(err)
}

// prepare returns what runs query: the statement prepared for it on the
// handle's own connection or, for a read-only SELECT while that connection
// is busy, on the connection the pool lends the handle (see reader). A
// statement the lent connection cannot prepare (it names something that
// exists only on the other) runs on the handle's own.
func (s *Store) prepare(ctx context.Context, query string) (sqlx.QueryerContext, error) {
	if r := s.lent(query); r != nil {
		if st, err := r.stmts.PrepareContext(ctx, query); err == nil {
			return queryer(r.db, st), nil
		}
	}
	st, err := s.stmts.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return queryer(s.db, st), nil
}

// lent is the lent connection query should run on, or nil for the
// handle's own: the query is not a plain SELECT, or the handle's own
// connection is free, or the pool has none to lend.
func (s *Store) lent(query string) *reader {
	if s.pool == nil || s.db.Stats().InUse == 0 || !readOnlySQL(query) {
		return nil
	}
	return s.pool.lendReader(s.e)
}

// queryer is what runs a query on db: st, the statement prepared for it,
// or db itself when the cache of statements is full (st is nil).
func queryer(db *sqlx.DB, st *sqlx.Stmt) sqlx.QueryerContext {
	if st == nil {
		return db
	}
	return stmtQueryer{st}
}

// Tx runs fn in one write transaction (BEGIN IMMEDIATE), committing when fn
// returns nil and rolling back otherwise. fn must use tx, not the Store,
// except through TxExecContext: the Store's own statements (and a nested
// Tx) fail while its Tx runs, rather than wait for the connection tx holds.
func (s *Store) Tx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	if err := s.ready(ctx, ""); err != nil {
		return err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return classify(fmt.Errorf("begin: %w", err))
	}
	s.inTx.Add(1)
	defer s.inTx.Add(-1)
	defer s.stmts.prepareNoted(ctx) // once the connection is free again
	defer tx.Rollback()             //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return classify(err)
	}
	if err := tx.Commit(); err != nil {
		return classify(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// TxExecContext runs query, a fixed statement, in tx, a transaction of
// this Store's Tx, through the statement the handle keeps prepared for it:
// a transaction's statements are then parsed once a handle, not once a
// transaction. A statement the handle has not prepared yet runs as
// tx.ExecContext runs it (a statement cannot be prepared for the handle
// while the transaction holds its connection) and is prepared when the
// transaction ends, for the next one.
func (s *Store) TxExecContext(ctx context.Context, tx *sqlx.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.stmts.cached(query); st != nil {
		r, err := tx.StmtxContext(ctx, st).ExecContext(ctx, args...)
		return r, classify(err)
	}
	s.stmts.note(query)
	r, err := tx.ExecContext(ctx, query, args...)
	return r, classify(err)
}

// Classify gives an error from a tenant's file the meaning the Store's
// own methods give theirs: ErrBusy for running out of file descriptors or
// a lock held elsewhere, ErrFull for a full disk, ErrUnavailable for a broken file. It is for errors a caller meets
// reading the rows of QueryContext.
func Classify(err error) error { return classify(err) }

// classify marks errors that come from running out of file descriptors,
// or from a lock another process held past the busy timeout, as ErrBusy,
// those from a full disk as ErrFull, and those that say the file is
// broken as ErrUnavailable.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBusy) || errors.Is(err, ErrFull) {
		return err
	}
	if outOfFiles(err) || lockedOut(err) {
		return MarkBusy(err)
	}
	if storageFull(err) {
		return fmt.Errorf("%w: %w", ErrFull, err)
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
