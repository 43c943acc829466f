package tenant

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
)

// maxStatements bounds the statements one handle keeps prepared. An app's
// fixed queries are a few dozen at most; an app that builds its SQL as it
// goes would otherwise grow the cache, and the memory SQLite holds for
// each statement, without limit. Past the bound a query runs unprepared,
// as every query did before the cache.
const maxStatements = 64

// stmtCache holds the statements prepared on one tenant handle, keyed by
// their text. It belongs to the handle: it is made when the handle opens
// and closed, with every statement in it, just before the handle closes, so
// no statement outlives its handle or is ever run on another tenant's.
type stmtCache struct {
	db       *sqlx.DB
	prepared *atomic.Uint64 // the pool's counters
	closedN  *atomic.Uint64

	mu     sync.Mutex
	stmts  map[string]*sqlx.Stmt
	closed bool
	// noted are queries run unprepared inside a transaction, to prepare
	// once it ends (see note).
	noted []string
}

// errHandleClosed is a use of a Store after its handle closed: a bug in
// the caller, who kept the Store past its release.
var errHandleClosed = errors.New("tenant: store used after its handle closed")

func newStmtCache(db *sqlx.DB, prepared, closed *atomic.Uint64) *stmtCache {
	return &stmtCache{db: db, prepared: prepared, closedN: closed, stmts: make(map[string]*sqlx.Stmt)}
}

// PrepareContext returns the statement prepared for query on the handle,
// preparing it on first use. It returns nil and no error when the cache is
// full: run query unprepared.
func (c *stmtCache) PrepareContext(ctx context.Context, query string) (*sqlx.Stmt, error) {
	c.mu.Lock()
	st, ok := c.stmts[query]
	full := len(c.stmts) >= maxStatements
	closed := c.closed
	c.mu.Unlock()
	switch {
	case ok:
		return st, nil
	case closed:
		return nil, errHandleClosed
	case full:
		return nil, nil
	}
	// Prepare outside the lock: it waits for the handle's one connection,
	// and hits on other statements need not wait with it.
	st, err := c.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.prepared.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if other, ok := c.stmts[query]; ok { // another request prepared it meanwhile
		c.closeStmt(st)
		return other, nil
	}
	if c.closed || len(c.stmts) >= maxStatements {
		c.closeStmt(st)
		if c.closed {
			return nil, errHandleClosed
		}
		return nil, nil
	}
	c.stmts[query] = st
	return st, nil
}

// cached returns the statement prepared for query on the handle, or nil
// if there is none yet; it never prepares one.
func (c *stmtCache) cached(query string) *sqlx.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// note records query, run unprepared inside a transaction that holds the
// handle's connection, for prepareNoted to prepare once it ends.
func (c *stmtCache) note(query string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.noted) < maxStatements && !slices.Contains(c.noted, query) {
		c.noted = append(c.noted, query)
	}
}

// prepareNoted prepares the queries note recorded. A failure is no one's:
// the statement runs unprepared again next time.
func (c *stmtCache) prepareNoted(ctx context.Context) {
	c.mu.Lock()
	noted := c.noted
	c.noted = nil
	c.mu.Unlock()
	for _, q := range noted {
		c.PrepareContext(ctx, q) //nolint:errcheck // see above
	}
}

// closeStmt closes a statement the cache does not keep.
func (c *stmtCache) closeStmt(st *sqlx.Stmt) {
	st.Close() //nolint:errcheck // closing a prepared statement only frees it
	c.closedN.Add(1)
}

// len is how many statements the cache holds.
func (c *stmtCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stmts)
}

// close closes every statement; later gets fail. Safe to call twice.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.stmts {
		errs = append(errs, st.Close())
		c.closedN.Add(1)
		delete(c.stmts, q)
	}
	c.closed = true
	return errors.Join(errs...)
}

// stmtQueryer runs one prepared statement where sqlx wants a Queryer; the
// query text it is handed is the statement's own.
type stmtQueryer struct{ st *sqlx.Stmt }

func (q stmtQueryer) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return q.st.QueryContext(ctx, args...)
}

func (q stmtQueryer) QueryxContext(ctx context.Context, _ string, args ...any) (*sqlx.Rows, error) {
	return q.st.QueryxContext(ctx, args...)
}

func (q stmtQueryer) QueryRowxContext(ctx context.Context, _ string, args ...any) *sqlx.Row {
	return q.st.QueryRowxContext(ctx, args...)
}
