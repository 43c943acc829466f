package tenant

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jmoiron/sqlx"
)

// A tenant's handle has one connection, which every request on the tenant
// shares: SQLite runs one writer at a time anyway, and most tenants never
// run two requests at once. A tenant that does (one user with many tabs or
// devices, an API client fanning out) queues its reads one behind another
// on that connection while a core may sit idle. So the pool lends such a
// handle a second connection, read-only (PRAGMA query_only), and a SELECT
// that finds the first connection busy runs there; WAL lets it read beside
// a writer. Writes, transactions and every other statement stay on the
// first connection, so they are serialized exactly as before.
//
// A lent connection is opened on its first query and closes with its
// handle. Opening one costs about what opening the handle did (SQLite reads
// the schema again), so only a handle that has served readerAfterUses
// requests gets one: in a pool that turns over quickly (more users than
// --max-open), two requests of one user meeting on a handle about to be
// evicted would otherwise pay that for a read or two. At most
// readerBudget(MaxOpen) handles hold one at a time, so that their
// descriptors fit the budget CheckFileLimit sets.

// reader is a handle's second, read-only connection and its statements.
type reader struct {
	db    *sqlx.DB
	stmts *stmtCache
}

// readerAfterUses is how many requests a handle must have served before
// the pool lends it a connection.
const readerAfterUses = 32

// readerBudget is how many handles may hold a second connection at once.
func readerBudget(maxOpen int) int { return max(1, maxOpen/4) }

// readOnlySQL reports whether query is one SELECT that reads the database
// and nothing that belongs to one connection: it may run on a lent
// connection. Anything else (a write, a PRAGMA, a WITH that may hide a
// write, two statements, a question about the connection's own last
// insert) is not, which is always safe: it runs on the handle's own
// connection.
func readOnlySQL(query string) bool {
	q := skipSpaceAndComments(query)
	if len(q) < 7 || !strings.EqualFold(q[:6], "select") || isIdentByte(q[6]) {
		return false
	}
	if i := strings.IndexByte(q, ';'); i >= 0 && strings.TrimSpace(q[i+1:]) != "" {
		return false
	}
	lower := strings.ToLower(q)
	for _, perConn := range []string{"last_insert_rowid", "changes(", "temp.", "sqlite_temp"} {
		if strings.Contains(lower, perConn) {
			return false
		}
	}
	return true
}

// skipSpaceAndComments returns q from its first token on.
func skipSpaceAndComments(q string) string {
	for {
		q = strings.TrimLeft(q, " \t\r\n\f")
		switch {
		case strings.HasPrefix(q, "--"):
			i := strings.IndexByte(q, '\n')
			if i < 0 {
				return ""
			}
			q = q[i+1:]
		case strings.HasPrefix(q, "/*"):
			i := strings.Index(q[2:], "*/")
			if i < 0 {
				return ""
			}
			q = q[2+i+2:]
		default:
			return q
		}
	}
}

func isIdentByte(b byte) bool {
	return b == '_' || b == '$' || b >= 0x80 ||
		'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}

// lendReader gives e a second, read-only connection, or returns nil when
// e has served fewer than readerAfterUses requests, the pool has lent all
// it may, e is no longer its tenant's open handle, or the file at the
// tenant's path is no longer the one e has open (the new connection would
// open that other file).
func (p *Pool) lendReader(e *entry) *reader {
	if r := e.reader.Load(); r != nil {
		return r
	}
	p.mu.Lock()
	none := e.uses < readerAfterUses || p.readersLent >= readerBudget(p.cfg.MaxOpen)
	p.mu.Unlock()
	if none { // before the stat: a busy pool asks this on every read
		return nil
	}
	fi, err := os.Stat(p.tenantPath(e.id))
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := e.reader.Load(); r != nil {
		return r
	}
	if p.closed || p.fenced != nil || p.entries[e.id] != e || e.gone != nil || e.lost || e.db == nil ||
		e.file == nil || !os.SameFile(fi, e.file) || p.readersLent >= readerBudget(p.cfg.MaxOpen) {
		return nil
	}
	db, err := openTenantDB(fileDSN(p.tenantPath(e.id), "rw", p.cfg.Durable) + readerPragmas)
	if err != nil {
		return nil // only a malformed DSN fails here, and then the handle's own connection serves
	}
	keepConnections(db, 1)
	r := &reader{db: db, stmts: newStmtCache(db, &p.prepared, &p.stmtsClosed)}
	e.reader.Store(r)
	p.readersLent++
	p.readersOpened.Add(1)
	return r
}

// readerPragmas set a lent connection up: the handle's page cache size, and
// no statement on it may write.
var readerPragmas = fmt.Sprintf("&_pragma=cache_size(%d)&_pragma=query_only(1)", cachePages)

// closeReader closes e's lent connection, if it has one, and gives its
// place back. It runs before e's own connection closes, so that the one
// that closes last (and checkpoints the WAL) is the handle's own.
func (p *Pool) closeReader(e *entry) error {
	r := e.reader.Swap(nil)
	if r == nil {
		return nil
	}
	err := errors.Join(r.stmts.close(), r.db.Close())
	p.mu.Lock()
	p.readersLent--
	p.mu.Unlock()
	return err
}
