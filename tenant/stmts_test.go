package tenant

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// readItem reads item 1 of tenant id through a fresh Acquire, as one
// request would.
func readItem(t *testing.T, p *Pool, id string) string {
	t.Helper()
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var v string
	if err := s.GetContext(ctx, &v, "SELECT v FROM items WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	return v
}

func insertItem(t *testing.T, p *Pool, id, v string) {
	t.Helper()
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := s.ExecContext(ctx, "INSERT INTO items (v) VALUES (?)", v); err != nil {
		t.Fatal(err)
	}
}

func TestStatementIsPreparedOncePerHandleAcrossRequests(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "alice")
	insertItem(t, p, tn.ID, "a")
	before := p.Stats().Prepared
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if v := readItem(t, p, tn.ID); v != "a" {
					t.Errorf("read %q, want a", v)
				}
			}
		}()
	}
	wg.Wait()
	// Concurrent first uses may each prepare it; only one is kept on each
	// of the handle's connections (its own and, if the reads overlapped,
	// the one the pool lent it).
	st := p.Stats()
	kept := st.Prepared - st.StatementsClosed
	if got := st.Prepared - before; got < 1 || got > 4*uint64(1+st.Readers) {
		t.Errorf("100 reads prepared %d statements on %d connections, want 1 each (at most one per racing first use)", got, 1+st.Readers)
	}
	if want := 2 + uint64(st.Readers); kept != want { // the insert and the read, and the read lent
		t.Errorf("the handle keeps %d statements, want %d", kept, want)
	}
	for range 10 {
		readItem(t, p, tn.ID)
	}
	if got := p.Stats().Prepared; got != st.Prepared {
		t.Errorf("reads on a warm handle prepared %d more statements, want 0", got-st.Prepared)
	}
}

func TestStatementsCloseWithTheirHandle(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 1})
	a, b := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	insertItem(t, p, a.ID, "a")
	readItem(t, p, a.ID)
	insertItem(t, p, b.ID, "b") // evicts alice's handle
	p.drainClosing()
	st := p.Stats()
	if st.Evictions == 0 {
		t.Fatal("alice's handle was not evicted")
	}
	if open := st.Prepared - st.StatementsClosed; open != 1 {
		t.Errorf("after eviction %d statements are still open, want 1 (bob's insert)", open)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Prepared != st.StatementsClosed {
		t.Errorf("after Close %d of %d statements are still open", st.Prepared-st.StatementsClosed, st.Prepared)
	}
}

func TestStatementsCloseWhenTheirTenantIsDeleted(t *testing.T) {
	p := newTestPool(t, Config{})
	a := mustProvision(t, p, "alice")
	insertItem(t, p, a.ID, "a")
	if err := p.Delete(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Prepared != st.StatementsClosed {
		t.Errorf("after Delete %d statements are still open", st.Prepared-st.StatementsClosed)
	}
}

func TestSameQueryOnTwoTenantsRunsOnEachOwnFile(t *testing.T) {
	p := newTestPool(t, Config{})
	a, b := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	insertItem(t, p, a.ID, "alice's")
	insertItem(t, p, b.ID, "bob's")
	for range 3 {
		if v := readItem(t, p, a.ID); v != "alice's" {
			t.Fatalf("alice read %q", v)
		}
		if v := readItem(t, p, b.ID); v != "bob's" {
			t.Fatalf("bob read %q", v)
		}
	}
	// One insert and one read per tenant: no statement is shared.
	if st := p.Stats(); st.Prepared != 4 {
		t.Errorf("prepared %d statements, want 4 (2 per tenant)", st.Prepared)
	}
}

func TestStatementCacheIsBoundedForDynamicSQL(t *testing.T) {
	p := newTestPool(t, Config{})
	a := mustProvision(t, p, "alice")
	insertItem(t, p, a.ID, "a")
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for i := range 3 * maxStatements {
		var n int
		if err := s.GetContext(ctx, &n, fmt.Sprintf("SELECT count(*) + %d FROM items", i)); err != nil {
			t.Fatal(err)
		}
		if n != i+1 {
			t.Fatalf("query %d answered %d", i, n)
		}
	}
	if got := s.stmts.len(); got != maxStatements {
		t.Errorf("the cache holds %d statements, want its bound %d", got, maxStatements)
	}
}

func TestStoreUsedAfterItsHandleClosedFails(t *testing.T) {
	p := newTestPool(t, Config{})
	a := mustProvision(t, p, "alice")
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.GetContext(ctx, &n, "SELECT count(*) FROM items"); err == nil {
		t.Fatal("a query on a closed handle succeeded")
	}
}

func TestStatementsCloseWhenTheirHandleIdlesOut(t *testing.T) {
	var now atomic.Int64
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	p := newTestPool(t, Config{IdleTimeout: time.Hour, Now: clock})
	a := mustProvision(t, p, "alice")
	insertItem(t, p, a.ID, "a")
	now.Add(int64(2 * time.Hour))
	p.closeAsync(p.sweepIdle())
	p.drainClosing()
	if st := p.Stats(); st.Open != 0 || st.Prepared != st.StatementsClosed {
		t.Errorf("after the idle close %d handles and %d statements are open", st.Open, st.Prepared-st.StatementsClosed)
	}
}

func TestStatementsCloseWhenTheirFileLeavesItsPath(t *testing.T) {
	p := newTestPool(t, Config{})
	a := mustProvision(t, p, "alice")
	insertItem(t, p, a.ID, "a")
	if err := os.Rename(p.tenantPath(a.ID), p.tenantPath(a.ID)+".moved"); err != nil {
		t.Fatal(err)
	}
	if n := p.CheckFiles(); n != 1 {
		t.Fatalf("CheckFiles retired %d handles, want 1", n)
	}
	p.drainClosing()
	if st := p.Stats(); st.Prepared != st.StatementsClosed {
		t.Errorf("after the file check %d statements are open", st.Prepared-st.StatementsClosed)
	}
}

// A transaction's statement run through TxExecContext is prepared for the
// handle once the transaction ends (it cannot be while the transaction
// holds the connection), and later transactions run it prepared; a
// transaction rolled back leaves nothing of its writes either way.
func TestTxStatementsArePreparedForTheNextTransaction(t *testing.T) {
	p := newTestPool(t, Config{})
	tn := mustProvision(t, p, "alice")
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	const insert = "INSERT INTO items (v) VALUES (?)"
	tx := func(v string, fail bool) error {
		return s.Tx(ctx, func(tx *sqlx.Tx) error {
			if _, err := s.TxExecContext(ctx, tx, insert, v); err != nil {
				return err
			}
			if fail {
				return fmt.Errorf("rolled back")
			}
			return nil
		})
	}
	before := p.Stats().Prepared
	if err := tx("first", false); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().Prepared - before; got != 1 {
		t.Fatalf("the first transaction left %d statements prepared, want 1", got)
	}
	if err := tx("second", false); err != nil {
		t.Fatal(err)
	}
	if err := tx("rolled back", true); err == nil {
		t.Fatal("a failing transaction committed")
	}
	if got := p.Stats().Prepared - before; got != 1 {
		t.Fatalf("later transactions prepared %d more, want 0", got-1)
	}
	var vs []string
	if err := s.SelectContext(ctx, &vs, "SELECT v FROM items ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(vs) != "[first second]" {
		t.Fatalf("items %v, want [first second]", vs)
	}
}
