package tenant

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
)

// Each migration runs in one transaction of its own, with the version bump
// inside it, so a file is at version N exactly when blocks 1..N are all in
// it. A migration that ends that transaction itself (COMMIT, END,
// ROLLBACK, a nested BEGIN, SAVEPOINT, RELEASE) would break that: what
// follows its COMMIT runs on its own and survives a failure of the rest.
// Such a migration is refused twice over:
//
//   - by its text, when the schema is read (ParseMigrations, NewPool), so
//     the embedder finds out at start. The text is split into statements
//     the way SQLite's own sqlite3_complete splits it (quotes, comments,
//     and CREATE TRIGGER bodies, whose BEGIN … END; hold semicolons), and a
//     statement is a transaction statement when it begins with one of
//     those words: no other statement can. Preparing the statements on a
//     scratch database would not do: a statement that names a table an
//     earlier migration makes fails to prepare there, and the ones after
//     it go unseen.
//   - by SQLite itself, when a migration is applied: the connection's
//     authorizer denies every transaction and savepoint operation while
//     the migration's statements run, so nothing our reading of the text
//     missed can get through, and the migration's transaction rolls back
//     whole.

// transactionWords are the words that begin a transaction statement.
var transactionWords = map[string]bool{
	"BEGIN": true, "COMMIT": true, "END": true, "ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true,
}

// sqlToken is a token as sqlite3_complete sees one.
type sqlToken uint8

const (
	tokSemi sqlToken = iota
	tokSpace
	tokOther
	tokExplain
	tokCreate
	tokTemp
	tokTrigger
	tokEnd
)

// splitState is where sqlite3_complete's state machine is: between
// statements (0), in one (1), after EXPLAIN (2) or CREATE [TEMP] (3), in a
// trigger (4), after a semicolon in one (5), and after END following such
// a semicolon (6), where the next semicolon ends the trigger.
var splitStates = [7][8]uint8{
	// semi space other explain create temp trigger end
	{0, 0, 1, 2, 3, 1, 1, 1},
	{0, 1, 1, 1, 1, 1, 1, 1},
	{0, 2, 1, 1, 3, 1, 1, 1},
	{0, 3, 1, 1, 1, 3, 4, 1},
	{5, 4, 4, 4, 4, 4, 4, 4},
	{5, 5, 4, 4, 4, 4, 4, 6},
	{0, 6, 4, 4, 4, 4, 4, 4},
}

// transactionStatement finds the first statement of src that is a
// transaction statement, and returns its first word (upper case) and that
// word's offset in src; "" when there is none.
func transactionStatement(src string) (word string, offset int) {
	state := uint8(0)
	head := false    // the statement's first word has been seen
	explain := false // that word was EXPLAIN: QUERY PLAN may follow
	for i := 0; i < len(src); {
		tok, n := nextSQLToken(src[i:])
		if tok != tokSpace && tok != tokSemi && !head {
			w := strings.ToUpper(src[i : i+n])
			switch {
			case tok == tokExplain:
				explain = true
			case explain && (w == "QUERY" || w == "PLAN"):
			case transactionWords[w]:
				return w, i
			default:
				head = true
			}
		}
		state = splitStates[state][tok]
		if tok == tokSemi && state == 0 {
			head, explain = false, false
		}
		i += n
	}
	return "", 0
}

// nextSQLToken reads the token at the start of s (not empty) and returns
// its kind and length. An unterminated comment, string or quoted name
// runs to the end.
func nextSQLToken(s string) (sqlToken, int) {
	switch c := s[0]; {
	case c == ';':
		return tokSemi, 1
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
		return tokSpace, 1
	case strings.HasPrefix(s, "/*"):
		if end := strings.Index(s[2:], "*/"); end >= 0 {
			return tokSpace, end + 4
		}
		return tokSpace, len(s)
	case strings.HasPrefix(s, "--"):
		if end := strings.IndexByte(s, '\n'); end >= 0 {
			return tokSpace, end + 1
		}
		return tokSpace, len(s)
	case c == '[':
		return tokOther, quotedLen(s, ']')
	case c == '\'' || c == '"' || c == '`':
		return tokOther, quotedLen(s, c)
	case idChar(c):
		n := 1
		for n < len(s) && idChar(s[n]) {
			n++
		}
		return keywordToken(s[:n]), n
	}
	return tokOther, 1
}

// quotedLen is the length of the quoted token at the start of s, which
// closes with end. A doubled quote inside reads as two tokens, which
// splits statements the same way.
func quotedLen(s string, end byte) int {
	if i := strings.IndexByte(s[1:], end); i >= 0 {
		return i + 2
	}
	return len(s)
}

// idChar reports whether c may be part of an SQLite identifier or keyword.
func idChar(c byte) bool {
	return c >= 0x80 || c == '_' || c == '$' ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func keywordToken(w string) sqlToken {
	switch strings.ToLower(w) {
	case "explain":
		return tokExplain
	case "create":
		return tokCreate
	case "temp", "temporary":
		return tokTemp
	case "trigger":
		return tokTrigger
	case "end":
		return tokEnd
	}
	return tokOther
}

// checkMigrationText refuses a migration with a transaction statement,
// saying which; the error wants the caller's context (a line, the pool).
func checkMigrationText(m Migration) error {
	if w, _ := transactionStatement(m.SQL); w != "" {
		return transactionError(m.Version, w)
	}
	return nil
}

func transactionError(version int, what string) error {
	return fmt.Errorf("migration %d: %s would end the transaction the migration runs in "+
		"(each migration is applied as one transaction, with its version); remove it", version, what)
}

// txGuard is a tenant connection's authorizer while a migration is
// applied on it: what denyAttach denies and, while on, every transaction
// and savepoint operation, recording the first. Its fields are atomic:
// database/sql may roll the transaction back from its own goroutine.
type txGuard struct {
	on      atomic.Bool
	refused atomic.Pointer[string]
}

func (g *txGuard) authorize(action sqlite.AuthorizerActionCode, arg1, arg2, db, trigger string) sqlite.AuthorizerReturnCode {
	if rc := denyAttach(action, arg1, arg2, db, trigger); rc != sqlite.AuthorizerOK {
		return rc
	}
	if !g.on.Load() || (action != sqlite.AuthTransaction && action != sqlite.AuthSavepoint) {
		return sqlite.AuthorizerOK
	}
	what := arg1 // BEGIN, COMMIT (also for END) or ROLLBACK
	if action == sqlite.AuthSavepoint {
		what = map[string]string{"BEGIN": "SAVEPOINT", "RELEASE": "RELEASE", "ROLLBACK": "ROLLBACK TO"}[arg1] + " " + arg2
	}
	g.refused.CompareAndSwap(nil, &what)
	return sqlite.AuthorizerDeny
}

// guardConn takes a connection of db and makes a new txGuard its
// authorizer, before any transaction begins on it: one whose authorizer
// could not be set is discarded. The guard stays installed when the
// connection goes back to db; off, it is denyAttach.
func guardConn(ctx context.Context, db *sqlx.DB) (*sqlx.Conn, *txGuard, error) {
	conn, err := db.Connx(ctx)
	if err != nil {
		return nil, nil, err
	}
	g := new(txGuard)
	err = conn.Raw(func(dc any) error {
		ar, ok := dc.(sqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("sqlite driver offers no authorizer (%T)", dc)
		}
		if err := ar.RegisterAuthorizer(g.authorize); err != nil {
			return fmt.Errorf("install authorizer: %w (%w)", err, driver.ErrBadConn)
		}
		return nil
	})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, g, nil
}

// exec runs query on conn, inside the transaction open on it, with the
// guard on. It runs on the driver's connection directly, under the lock
// database/sql holds for it, so that database/sql's own rollback of a
// transaction whose context ended waits until the guard is off again.
func (g *txGuard) exec(ctx context.Context, conn *sqlx.Conn, query string) error {
	return conn.Raw(func(dc any) error {
		ex, ok := dc.(driver.ExecerContext)
		if !ok {
			return fmt.Errorf("sqlite driver cannot exec (%T)", dc)
		}
		g.on.Store(true)
		defer g.on.Store(false)
		_, err := ex.ExecContext(ctx, query, nil)
		return err
	})
}

// refusal is what the guard refused, if anything.
func (g *txGuard) refusal() string {
	if p := g.refused.Load(); p != nil {
		return *p
	}
	return ""
}
