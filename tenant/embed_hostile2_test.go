package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// What an embedder's schema, contexts and shutdown broke: a migration
// with a COMMIT of its own was half applied; a Provision whose context
// ended said "transaction has already been committed or rolled back";
// Close returned with provisions and deletes still under way.

// A transaction statement in a migration ended the transaction the
// migration runs in: what followed it ran on its own, and the version
// bump could be out of step with what was applied.
func TestParseMigrationsRefusesTransactionStatements(t *testing.T) {
	for _, stmt := range []string{
		"COMMIT;",
		"commit;",
		"Commit Transaction;",
		"END;",
		"end transaction ;",
		"ROLLBACK;",
		"rollback transaction;",
		"BEGIN;",
		"BEGIN IMMEDIATE;",
		"SAVEPOINT x;",
		"RELEASE x;",
		"release savepoint x;",
		"ROLLBACK TO x;",
		"/* done */ COMMIT /* really */ ;",
		"-- finish here\nCOMMIT; -- and go on",
		"COMMIT", // no semicolon, last in the block
		"EXPLAIN COMMIT;",
		"CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN SELECT 1; END; COMMIT;",
		"CREATE TEMP TRIGGER t_ai AFTER INSERT ON t BEGIN SELECT CASE WHEN 1 THEN 2 END; END;\nEND;",
	} {
		src := "-- migration: 1\nCREATE TABLE t (x);\n-- migration: 2\nCREATE TABLE u (x);\n" + stmt + "\nCREATE TABLE v (x);\n"
		ms, err := ParseMigrations(src)
		if err == nil {
			t.Errorf("%q: parsed to %d migrations, no error", stmt, len(ms))
			continue
		}
		if !strings.Contains(err.Error(), "migration 2") {
			t.Errorf("%q: %v; want it to name migration 2", stmt, err)
		}
	}
}

// What looks like a transaction statement but is not one: trigger bodies
// (schema.sql has several), words in strings, identifiers and comments.
const legalWordsSchema = `
-- migration: 1
-- COMMIT; in a comment, /* and ROLLBACK; */ too
CREATE TABLE "commit" (id INTEGER PRIMARY KEY, "end" TEXT, [begin] TEXT, ` + "`rollback`" + ` TEXT);
CREATE TABLE log (msg TEXT NOT NULL);
/* END; BEGIN;
   SAVEPOINT x; */
CREATE TRIGGER commit_ai AFTER INSERT ON "commit"
WHEN new."end" IS NOT 'nothing;' BEGIN
  INSERT INTO log (msg) VALUES ('COMMIT; -- not a comment');
  INSERT INTO log (msg) VALUES (CASE WHEN new.[begin] = 'x' THEN 'BEGIN' ELSE 'END' END);
END;
CREATE TEMPORARY TABLE IF NOT EXISTS scratch (x);
DROP TABLE scratch;
-- migration: 2
CREATE TRIGGER IF NOT EXISTS log_ad
AFTER DELETE ON log BEGIN SELECT 'ROLLBACK;'; END
;
INSERT INTO "commit" ("end", [begin], ` + "`rollback`" + `) VALUES ('END;', 'x', 'RELEASE x;')
`

func TestMigrationsWithTriggersStringsAndCommentsApply(t *testing.T) {
	ms, err := ParseMigrations(legalWordsSchema)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	p := newTestPool(t, Config{Migrations: ms})
	tn := mustProvisionNoInit(t, p, "alice")
	s, release, err := p.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var got []string
	if err := s.SelectContext(context.Background(), &got, "SELECT msg FROM log ORDER BY rowid"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"COMMIT; -- not a comment", "BEGIN"}; !slices.Equal(got, want) {
		t.Errorf("trigger wrote %q, want %q", got, want)
	}
}

func mustProvisionNoInit(t *testing.T, p *Pool, name string) Tenant {
	t.Helper()
	tn, err := p.Provision(context.Background(), name, nil)
	if err != nil {
		t.Fatalf("provision %s: %v", name, err)
	}
	return tn
}

// Migrations an embedder builds by hand skip ParseMigrations: NewPool
// refuses them the same way.
func TestNewPoolRefusesTransactionStatements(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDirectory(context.Background(), filepath.Join(dir, RoutingFile))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ms := []Migration{{1, "CREATE TABLE a (x);"}, {2, "CREATE TABLE b (x); COMMIT; CREATE TABLE c (x);"}}
	p, err := NewPool(d, Config{Dir: dir, Migrations: ms})
	if err == nil {
		p.Close()
		t.Fatal("NewPool took a migration with a COMMIT")
	}
	if !strings.Contains(err.Error(), "migration 2") || !strings.Contains(err.Error(), "COMMIT") {
		t.Errorf("error %q names neither migration 2 nor its COMMIT", err)
	}
}

// Applying a migration refuses a transaction statement on its own (SQLite
// decides, not our reading of the text), before anything of it is kept.
func TestApplyingMigrationWithTransactionStatementKeepsNothing(t *testing.T) {
	for _, stmt := range []string{
		"COMMIT;", "END;", "ROLLBACK;", "BEGIN;", "SAVEPOINT x;", "RELEASE x;",
		"/* x */ commit -- y\n;",
	} {
		t.Run(stmt, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "t.db")
			db, err := openTenantDB(fileDSN(path, "rwc", false))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			keepConnections(db, 1)
			ms := []Migration{
				{1, "CREATE TABLE a (x);"},
				{2, "CREATE TABLE b (x);\n" + stmt + "\nCREATE TABLE c (x);"},
			}
			from, to, err := migrate(ctx, "t", db, ms)
			var me *MigrationError
			if !errors.As(err, &me) || me.Version != 2 || from != 0 || to != 1 {
				t.Fatalf("migrate: %d→%d, %v; want migration 2 refused", from, to, err)
			}
			if !strings.Contains(err.Error(), "transaction") {
				t.Errorf("error %q does not say why", err)
			}
			if v, err := userVersion(ctx, db); err != nil || v != 1 {
				t.Errorf("user_version %d, %v; want 1", v, err)
			}
			var tables []string
			if err := db.SelectContext(ctx, &tables, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tables, []string{"a"}) {
				t.Errorf("tables %q, want only a", tables)
			}
			// The connection is left usable, in no transaction.
			if _, _, err := migrate(ctx, "t", db, ms[:1]); err != nil {
				t.Errorf("after the refusal: %v", err)
			}
			if err := applyMigration(ctx, db, Migration{2, "CREATE TABLE d (x);"}); err != nil {
				t.Errorf("a clean migration after the refusal: %v", err)
			}
		})
	}
}

// FuzzTransactionStatement: where SQLite, running a text in a migration's
// transaction, meets a transaction statement, the text check has found it
// first; where SQLite runs the whole text without meeting one, the check
// finds none.
func FuzzTransactionStatement(f *testing.F) {
	for _, s := range []string{
		"COMMIT;", "SELECT 1; END", "SELECT 'COMMIT;'; SELECT 2;",
		"CREATE TABLE t(x); CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; END; ROLLBACK;",
		"CREATE TABLE t(x); CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT CASE WHEN 1 THEN 2 END; END; SELECT 1;",
		"/* a */ -- b\n savepoint s; release s;", "SELECT [end];", "EXPLAIN QUERY PLAN SELECT 1;",
		"CREATE TEMP TABLE trigger(x); SELECT 1; COMMIT;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		ctx := context.Background()
		src, _, _ = strings.Cut(src, "\x00") // where SQLite stops reading
		found, _ := transactionStatement(src)
		// A fresh file each time: a PRAGMA outlives a rollback.
		db, err := openTenantDB(fileDSN(filepath.Join(t.TempDir(), "f.db"), "rwc", false))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		keepConnections(db, 1)
		conn, g, err := guardConn(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		tx, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		err = g.exec(ctx, conn, src)
		refused := g.refusal()
		if refused != "" && found == "" {
			t.Fatalf("SQLite met %s in %q; the text check found none", refused, src)
		}
		if err == nil && found != "" {
			t.Fatalf("the text check found %q in %q, which SQLite ran without one", found, src)
		}
	})
}

// A Provision whose context ended during init or the migrations said
// "commit init: sql: transaction has already been committed or rolled
// back", which no caller can tell from a bug.
func TestProvisionWhoseContextEndsReportsIt(t *testing.T) {
	// waitRolledBack waits until database/sql has rolled tx back for its
	// ended context, so that what follows meets the rolled-back tx.
	waitRolledBack := func(tx *sqlx.Tx) error {
		for {
			if _, err := tx.ExecContext(context.Background(), "SELECT 1"); errors.Is(err, sql.ErrTxDone) {
				return err
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Runs for minutes unless interrupted, writing nothing.
	slow := "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 10000000000) SELECT x FROM c);"
	for _, tc := range []struct {
		name     string
		deadline bool
		schema   string
		init     func(cancel func()) InitFunc
	}{
		{"cancel in init, init returns nil", false, "", func(cancel func()) InitFunc {
			return func(ctx context.Context, tx *sqlx.Tx, _ Tenant) error {
				cancel()
				waitRolledBack(tx)
				return nil
			}
		}},
		{"cancel in init, init returns what it met", false, "", func(cancel func()) InitFunc {
			return func(ctx context.Context, tx *sqlx.Tx, _ Tenant) error {
				cancel()
				return waitRolledBack(tx)
			}
		}},
		{"deadline in init", true, "", func(func()) InitFunc {
			return func(ctx context.Context, tx *sqlx.Tx, _ Tenant) error {
				<-ctx.Done()
				waitRolledBack(tx)
				return nil
			}
		}},
		{"deadline in a migration", true, "-- migration: 1\nCREATE TABLE a (x);\n-- migration: 2\n" + slow, nil},
		{"cancel in a migration", false, "-- migration: 1\n" + slow, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{}
			if tc.schema != "" {
				ms, err := ParseMigrations(tc.schema)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Migrations = ms
			}
			p := newTestPool(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.deadline {
				ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
			}
			defer cancel()
			var init InitFunc
			if tc.init != nil {
				init = tc.init(cancel)
			} else if !tc.deadline {
				p.hook = func(step string) error {
					if step == "migrate" {
						time.AfterFunc(100*time.Millisecond, cancel)
					}
					return nil
				}
			}
			_, err := p.Provision(ctx, "alice", init)
			want := context.Canceled
			if tc.deadline {
				want = context.DeadlineExceeded
			}
			if !errors.Is(err, want) {
				t.Errorf("provision: %v; want %v", err, want)
			}
			p.hook = nil
			assertNoTenant(t, p, "alice")
			if tc.schema != "" {
				return // its migration never ends
			}
			if _, err := p.Provision(context.Background(), "alice", nil); err != nil {
				t.Errorf("provision again: %v", err)
			}
		})
	}
}

// assertNoTenant checks that name has no row and the pool no file.
func assertNoTenant(t *testing.T, p *Pool, name string) {
	t.Helper()
	if tn, err := p.Directory().Lookup(context.Background(), name); !errors.Is(err, ErrNotFound) {
		t.Errorf("lookup %s: %+v, %v; want ErrNotFound", name, tn, err)
	}
	if files := filesUnder(t, p.dir, "tenants"); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
}

// dirState is what a data directory holds: each row's username and
// state by id, and the tenant ids that have a file.
type dirState struct {
	rows  map[string]string
	files map[string]bool
}

func readDirState(t *testing.T, d *Directory, dir string) dirState {
	t.Helper()
	ts, err := d.List(context.Background(), "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	s := dirState{rows: map[string]string{}, files: map[string]bool{}}
	for _, tn := range ts {
		s.rows[tn.ID] = tn.Username + " " + string(tn.State)
	}
	for _, f := range filesUnder(t, dir, "tenants") {
		id, _, _ := strings.Cut(filepath.Base(f), ".")
		s.files[id] = true
	}
	return s
}

// changed lists the ids whose row or file differ between a and b.
func changed(a, b dirState) []string {
	var out []string
	for _, s := range []dirState{a, b} {
		for id := range s.rows {
			if a.rows[id] != b.rows[id] || a.files[id] != b.files[id] {
				out = append(out, id)
			}
		}
		for id := range s.files {
			if a.rows[id] != b.rows[id] || a.files[id] != b.files[id] {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// checkWhole fails unless every tenant is whole: an active row with a
// file, and no file without a row.
func (s dirState) checkWhole(t *testing.T, when string) {
	t.Helper()
	for id, row := range s.rows {
		if !strings.HasSuffix(row, " "+string(StateActive)) || !s.files[id] {
			t.Errorf("%s: tenant %s (%s) has file %v", when, id, row, s.files[id])
		}
	}
	for id := range s.files {
		if _, ok := s.rows[id]; !ok {
			t.Errorf("%s: file of %s has no row", when, id)
		}
	}
}

// Close returned while provisions and deletes were midway, which went on
// to leave provisioning rows, rows without files or files without rows
// behind a closed pool, and handles open after it.
func TestCloseWaitsForProvisionsAndDeletes(t *testing.T) {
	const provisions, olds = 48, 24
	dir := t.TempDir()
	d, err := OpenDirectory(context.Background(), filepath.Join(dir, RoutingFile))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := Config{Dir: dir, Migrations: testMigrations(t)}
	p, err := NewPool(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	old := make([]Tenant, olds)
	for i := range old {
		old[i] = mustProvision(t, p, fmt.Sprintf("old%02d", i))
	}

	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		closing  = make(chan struct{})
		inInit   = make(chan struct{}, provisions)
		provErrs = make([]error, provisions)
		delErrs  = make([]error, olds)
	)
	slowInit := func(ctx context.Context, tx *sqlx.Tx, tn Tenant) error {
		inInit <- struct{}{}
		time.Sleep(time.Millisecond)
		return writeAccount(ctx, tx, tn)
	}
	for i := range provisions {
		wg.Go(func() {
			<-start
			_, provErrs[i] = p.Provision(ctx, fmt.Sprintf("new%02d", i), slowInit)
		})
	}
	for i, tn := range old {
		if i%3 == 0 { // held until Close begins: Delete waits for the holder
			s, release, err := p.Acquire(ctx, tn.ID)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				<-closing
				s.ExecContext(ctx, "INSERT INTO items (v) VALUES ('held')")
				release()
			})
		}
		wg.Go(func() {
			<-start
			delErrs[i] = p.Delete(ctx, tn.ID)
		})
	}
	close(start)
	for range provisions / 4 {
		<-inInit
	}
	close(closing)
	if err := p.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	atClose := readDirState(t, d, dir)
	atClose.checkWhole(t, "when Close returned")
	wg.Wait()
	after := readDirState(t, d, dir)
	after.checkWhole(t, "after every call returned")
	for _, id := range changed(atClose, after) {
		t.Errorf("tenant %s changed after Close returned: row %q, file %v; then row %q, file %v",
			id, atClose.rows[id], atClose.files[id], after.rows[id], after.files[id])
	}
	if n := tenantFDs(t, dir); n != 0 {
		t.Errorf("%d descriptors on tenant files after Close and every release", n)
	}

	byName := map[string]string{}
	for id, row := range after.rows {
		name, _, _ := strings.Cut(row, " ")
		byName[name] = id
	}
	for i, err := range provErrs {
		_, there := byName[fmt.Sprintf("new%02d", i)]
		if (err == nil) != there {
			t.Errorf("provision new%02d: %v, but its tenant there: %v", i, err, there)
		}
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("provision new%02d: %v; want ErrClosed", i, err)
		}
	}
	for i, err := range delErrs {
		_, there := byName[old[i].Username]
		if (err != nil) != there {
			t.Errorf("delete %s: %v, but its tenant there: %v", old[i].Username, err, there)
		}
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("delete %s: %v; want ErrClosed", old[i].Username, err)
		}
	}

	// Every tenant left opens, in a new pool.
	p2, err := NewPool(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	for id := range after.rows {
		s, release, err := p2.Acquire(ctx, id)
		if err != nil {
			t.Errorf("acquire %s after the close: %v", id, err)
			continue
		}
		var n int
		if err := s.GetContext(ctx, &n, "SELECT count(*) FROM account"); err != nil || n != 1 {
			t.Errorf("tenant %s: %d accounts, %v", id, n, err)
		}
		release()
	}
}
