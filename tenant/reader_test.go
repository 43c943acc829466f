package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

func TestReadOnlySQL(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT count(*) FROM items":                        true,
		"  select v FROM items WHERE id = ?":                true,
		"\n-- a comment\n/* another */ SELECT 1":            true,
		"SELECT v FROM items;  \n":                          true,
		"SELECT * FROM items WHERE v = 'a;b'":               false, // a ';' anywhere but the end: not risked
		"SELECT 1; DELETE FROM items":                       false,
		"INSERT INTO items (v) VALUES ('x') RETURNING id":   false,
		"UPDATE items SET v = 'y' RETURNING id":             false,
		"WITH x AS (SELECT 1) DELETE FROM items":            false,
		"WITH x AS (SELECT 1) SELECT * FROM x":              false, // a WITH may hide a write
		"PRAGMA user_version":                               false,
		"SELECTED":                                          false,
		"select_x":                                          false,
		"SELECT last_insert_rowid()":                        false,
		"SELECT changes()":                                  false,
		"SELECT total_changes()":                            false,
		"SELECT * FROM temp.scratch":                        false,
		"SELECT name FROM sqlite_temp_master":               false,
		"-- only a comment":                                 false,
		"/* unterminated SELECT":                            false,
		"":                                                  false,
		"SELECT\tv FROM items":                              true,
		"select(1)":                                         true,
		"EXPLAIN SELECT 1":                                  false,
		"VALUES (1)":                                        false,
		"SELECT v FROM items -- trailing; comment with one": false,
	} {
		if got := readOnlySQL(q); got != want {
			t.Errorf("readOnlySQL(%q) = %v, want %v", q, got, want)
		}
	}
}

// holdConnection keeps the handle's own connection busy, as a request in
// the middle of a listing does, until the returned function is called.
func holdConnection(t *testing.T, s *Store) func() {
	t.Helper()
	rows, err := s.QueryContext(context.Background(), "SELECT id FROM items")
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatal("no rows to hold the connection with")
	}
	return func() { rows.Close() }
}

// warm has id's handle serve enough requests to be lent a connection.
func warm(t *testing.T, p *Pool, id string) {
	t.Helper()
	for range readerAfterUses {
		_, release, err := p.Acquire(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
}

// countWhileHeld counts items through s while another request holds the
// handle's own connection, waiting at most wait.
func countWhileHeld(t *testing.T, s *Store, wait time.Duration) (int, error) {
	t.Helper()
	letGo := holdConnection(t, s)
	defer letGo()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var n int
	err := s.GetContext(ctx, &n, "SELECT count(*) FROM items")
	return n, err
}

// TestBusyHandleReadsOnALentConnection: while a request holds a tenant's
// one connection, a read of the same tenant runs on a second, read-only
// connection the pool lends the handle (without it, the read waits for the
// first request, here until its deadline), and sees every committed row,
// once the handle has served readerAfterUses requests: before, it waits.
// Writes still wait for the handle's own connection, and the lent one
// refuses to write. The lent connection closes with the handle, the
// handle's own connection last.
func TestBusyHandleReadsOnALentConnection(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 4})
	alice := mustProvision(t, p, "alice")
	addItems(t, p, alice.ID, 10)
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	letGo := holdConnection(t, s)

	// A handle new to the pool is lent nothing: its reads wait.
	quick, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	var n int
	if err := s.GetContext(quick, &n, "SELECT count(*) FROM items"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read on a handle new to the pool while its connection is held: %v, want it to wait", err)
	}
	cancel()
	if st := p.Stats(); st.ReadersOpened != 0 {
		t.Errorf("%d connections lent to a handle new to the pool", st.ReadersOpened)
	}
	warm(t, p, alice.ID)

	s2, release2, err := p.Acquire(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := s2.GetContext(short, &n, "SELECT count(*) FROM items"); err != nil || n != 10 {
		t.Fatalf("read while the connection is held: %d, %v (want 10 rows)", n, err)
	}
	var vs []string
	if err := s2.SelectContext(short, &vs, "SELECT v FROM items WHERE n < ?", 3); err != nil || len(vs) != 3 {
		t.Fatalf("select while the connection is held: %v, %v", vs, err)
	}
	if st := p.Stats(); st.Readers != 1 || st.ReadersOpened != 1 || st.ReaderCapacity != 1 {
		t.Errorf("stats: %d readers lent now, %d ever, capacity %d; want 1, 1, 1", st.Readers, st.ReadersOpened, st.ReaderCapacity)
	}

	// A write waits for the handle's own connection, whatever it looks like.
	for _, q := range []string{
		"INSERT INTO items (v) VALUES ('w')",
		"WITH x AS (SELECT 1) INSERT INTO items (v) SELECT 'w' FROM x",
	} {
		quick, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err := s2.ExecContext(quick, q)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s while the connection is held: %v, want it to wait (deadline exceeded)", q, err)
		}
	}
	r := alice.reader(t, p)
	if _, err := r.db.ExecContext(ctx, "INSERT INTO items (v) VALUES ('w')"); err == nil {
		t.Error("the lent connection wrote")
	}

	letGo()
	release()
	// A write the lent connection's next read sees.
	if _, err := s2.ExecContext(ctx, "INSERT INTO items (v) VALUES ('later')"); err != nil {
		t.Fatal(err)
	}
	letGo = holdConnection(t, s2)
	if err := s2.GetContext(short, &n, "SELECT count(*) FROM items"); err != nil || n != 11 {
		t.Errorf("read on the lent connection after a write: %d, %v (want 11)", n, err)
	}
	letGo()
	release2()

	p.Close()
	if st := p.Stats(); st.Readers != 0 {
		t.Errorf("%d lent connections after the pool closed", st.Readers)
	}
	if fds := tenantFDs(t, p.dir); fds != 0 {
		t.Errorf("%d tenant descriptors open after the pool closed", fds)
	}
}

// reader returns the lent connection of tn's handle, failing if it has none.
func (tn Tenant) reader(t *testing.T, p *Pool) *reader {
	t.Helper()
	p.mu.Lock()
	e := p.entries[tn.ID]
	p.mu.Unlock()
	if e == nil || e.reader.Load() == nil {
		t.Fatalf("tenant %s has no lent connection", tn.Username)
	}
	return e.reader.Load()
}

// TestLentConnectionsAreBounded: a pool lends at most a quarter of its
// handles (at least one) a second connection, each once it has served
// readerAfterUses requests; a busy handle past that
// reads on its own connection, waiting for it. Evicting a handle closes
// its lent connection and gives its place to another.
func TestLentConnectionsAreBounded(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 4})
	ts := provisionN(t, p, 5)
	ctx := context.Background()
	hold := func(tn Tenant) func() {
		warm(t, p, tn.ID)
		s, release, err := p.Acquire(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		addItemsTo(t, s, 1)
		letGo := holdConnection(t, s)
		return func() { letGo(); release() }
	}
	read := func(tn Tenant, wait time.Duration) error {
		s, release, err := p.Acquire(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		c, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		var n int
		return s.GetContext(c, &n, "SELECT count(*) FROM items")
	}

	done0 := hold(ts[0])
	if err := read(ts[0], 3*time.Second); err != nil {
		t.Fatalf("first busy handle: %v", err)
	}
	done1 := hold(ts[1])
	if err := read(ts[1], 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second busy handle, past the budget: %v, want it to wait for its own connection", err)
	}
	if st := p.Stats(); st.Readers != 1 || st.ReadersOpened != 1 {
		t.Errorf("%d lent now, %d ever; want 1, 1", st.Readers, st.ReadersOpened)
	}
	done0()
	done1()

	// Push ts[0] out of the pool: its lent connection goes with it.
	for _, tn := range ts[1:] {
		if err := read(tn, 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	p.drainClosing()
	if st := p.Stats(); st.Readers != 0 {
		t.Fatalf("%d lent connections after their handle was evicted", st.Readers)
	}
	done1 = hold(ts[1])
	if err := read(ts[1], 3*time.Second); err != nil {
		t.Errorf("busy handle once the place was given back: %v", err)
	}
	done1()
	if st := p.Stats(); st.Readers != 1 || st.ReadersOpened != 2 {
		t.Errorf("%d lent now, %d ever; want 1, 2", st.Readers, st.ReadersOpened)
	}
}

func addItemsTo(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.ExecContext(context.Background(), "INSERT INTO items (v, n) VALUES ('item', ?)", i); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLentConnectionFallsBack: a SELECT the lent connection cannot prepare,
// because it names a temporary table of the handle's own connection, runs
// on the handle's own connection.
func TestLentConnectionFallsBack(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 4})
	alice := mustProvision(t, p, "alice")
	addItems(t, p, alice.ID, 3)
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := s.ExecContext(ctx, "CREATE TEMP TABLE scratch (x)"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExecContext(ctx, "INSERT INTO scratch VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	// Lend the handle its connection first, then ask for the table.
	warm(t, p, alice.ID)
	if n, err := countWhileHeld(t, s, 3*time.Second); err != nil || n != 3 {
		t.Fatalf("%d, %v", n, err)
	}
	var x int
	if err := s.GetContext(ctx, &x, "SELECT x FROM scratch"); err != nil || x != 7 {
		t.Errorf("temporary table: %d, %v", x, err)
	}
}

// TestReadsBesideWritesOnOneTenant: many requests reading and writing one
// tenant at once (run it with -race) all succeed, readers on either
// connection see whole rows, and nothing is lost.
func TestReadsBesideWritesOnOneTenant(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 4})
	alice := mustProvision(t, p, "alice")
	ctx := context.Background()
	const writers, readers, each = 4, 12, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				s, release, err := p.Acquire(ctx, alice.ID)
				if err != nil {
					errs <- err
					return
				}
				var id int64
				err = s.GetContext(ctx, &id, "INSERT INTO items (v, n) VALUES (?, ?) RETURNING id", fmt.Sprintf("w%d-%d", w, i), i)
				release()
				if err != nil {
					errs <- fmt.Errorf("write: %w", err)
					return
				}
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for range each {
				s, release, err := p.Acquire(ctx, alice.ID)
				if err != nil {
					errs <- err
					return
				}
				var rows []struct {
					V string
					N int
				}
				err = s.SelectContext(ctx, &rows, "SELECT v, n FROM items ORDER BY id DESC LIMIT 5")
				release()
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					errs <- fmt.Errorf("read: %w", err)
					return
				}
				for _, r := range rows {
					if r.V == "" {
						errs <- errors.New("read a row without its value")
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := countItems(t, p, alice.ID); n != writers*each {
		t.Errorf("%d rows, want %d", n, writers*each)
	}
	if st := p.Stats(); st.Readers > st.ReaderCapacity {
		t.Errorf("%d lent connections, capacity %d", st.Readers, st.ReaderCapacity)
	}
}

// TestDeletingATenantClosesItsLentConnection: deleting a user whose handle
// borrowed a second connection leaves no descriptor on its files and no
// file behind, and gives the place back.
func TestDeletingATenantClosesItsLentConnection(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 4})
	alice := mustProvision(t, p, "alice")
	addItems(t, p, alice.ID, 3)
	warm(t, p, alice.ID)
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = countWhileHeld(t, s, 3*time.Second)
	release()
	if err != nil || p.Stats().Readers != 1 {
		t.Fatalf("read on the lent connection: %v, %d lent", err, p.Stats().Readers)
	}
	if err := p.Delete(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Readers != 0 {
		t.Errorf("%d lent connections after the tenant was deleted", st.Readers)
	}
	if fds := tenantFDs(t, p.dir); fds != 0 {
		t.Errorf("%d tenant descriptors open after the delete", fds)
	}
	if files := filesUnder(t, p.dir, "tenants"); len(files) != 0 {
		t.Errorf("files left behind: %v", files)
	}
}

// TestNoConnectionIsLentToAFileThatReplacedTheHandles: when the file at a
// tenant's path is no longer the one its handle has open (replaced under a
// running server, before the background check notices), the pool lends no
// connection, which would open the other file: the busy read waits for
// the handle's own connection.
func TestNoConnectionIsLentToAFileThatReplacedTheHandles(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 4, FileCheckInterval: time.Hour})
	alice, bob := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	addItems(t, p, alice.ID, 3)
	warm(t, p, alice.ID)
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	other, err := os.ReadFile(p.tenantPath(bob.ID))
	if err != nil {
		t.Fatal(err)
	}
	tmp := p.tenantPath(alice.ID) + ".swap"
	if err := os.WriteFile(tmp, other, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p.tenantPath(alice.ID)); err != nil {
		t.Fatal(err)
	}
	n, err := countWhileHeld(t, s, 200*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("busy read after the file was replaced: %d rows, %v; want it to wait for the handle's own connection", n, err)
	}
	if st := p.Stats(); st.ReadersOpened != 0 {
		t.Errorf("%d connections lent to a handle whose file was replaced", st.ReadersOpened)
	}
}
