package tenant

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jmoiron/sqlx"
)

// keptPool is a pool of one open handle with ann and bob in it, where ann's
// handle closed (bob's took its place) keeping "k" in ann's memo.
func keptPool(t *testing.T, cfg Config) (p *Pool, ann, bob Tenant) {
	t.Helper()
	cfg.MaxOpen = 1
	p = newTestPool(t, cfg)
	ann, bob = mustProvision(t, p, "ann"), mustProvision(t, p, "bob")
	m, release := acquireMemo(t, p, ann.ID)
	if !m.Put(m.Gen(), "k", "ann's", 5) {
		t.Fatal("Put refused")
	}
	release()
	_, release = acquireMemo(t, p, bob.ID) // ann's handle closes
	release()
	waitFor(t, "ann's memo kept", func() bool { return p.Stats().KeptMemos == 1 })
	return p, ann, bob
}

// readAccount runs a statement on s.
func readAccount(t *testing.T, s *Store) error {
	t.Helper()
	var name string
	return s.GetContext(context.Background(), &name, "SELECT username FROM account")
}

// A read of a closed tenant is answered from its kept memo without opening
// the file; the file opens only when the request runs a statement, and the
// handle then goes on with the same memo. A Store released before any
// statement refuses one, rather than hold the tenant with no release.
func TestAKeptMemoAnswersWithoutOpeningTheFile(t *testing.T) {
	p, ann, bob := keptPool(t, Config{})
	before := p.Stats()
	s, release, err := p.AcquireLazily(context.Background(), ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Memo().Get("k"); !ok || v != "ann's" {
		t.Fatalf("Get = %v, %v; want ann's", v, ok)
	}
	after := p.Stats()
	if after.Misses != before.Misses || after.Hits != before.Hits || after.KeptHits != before.KeptHits+1 {
		t.Fatalf("stats went from %+v to %+v; want one kept hit, no open", before, after)
	}
	if got := s.TenantID(); got != ann.ID {
		t.Fatalf("TenantID = %s, want %s", got, ann.ID)
	}
	if err := readAccount(t, s); err != nil {
		t.Fatalf("the lazy store's first statement: %v", err)
	}
	if got := p.Stats().Misses; got != before.Misses+1 {
		t.Fatalf("misses = %d after a statement, want %d", got, before.Misses+1)
	}
	if v, ok := s.Memo().Get("k"); !ok || v != "ann's" {
		t.Fatalf("after the open, Get = %v, %v; want ann's", v, ok)
	}
	release()
	release() // a second call does nothing
	held, releaseHeld := acquireMemo(t, p, ann.ID)
	defer releaseHeld()
	if held != s.Memo() {
		t.Fatal("the handle did not take up the kept memo")
	}
	if p.Stats().KeptMemos != 0 {
		t.Fatal("a memo is still kept while its tenant's handle is open")
	}
	releaseHeld()
	_, release = acquireMemo(t, p, bob.ID) // ann's handle closes again
	release()
	waitFor(t, "ann's memo kept again", func() bool { return p.Stats().KeptMemos == 1 })
	late, release, err := p.AcquireLazily(context.Background(), ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if err := readAccount(t, late); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a statement after release: %v, want ErrUnavailable", err)
	}
	if got := p.Stats(); got.Open != 1 || got.KeptMemos != 1 {
		t.Fatalf("a statement after release opened the file: %+v", got)
	}
}

// A kept memo is dropped when its file changed under the closed handle: a
// write by another program (to the database or only its -wal), a file put
// in its place, a file removed.
func TestAKeptMemoIsDroppedWhenTheFileChanges(t *testing.T) {
	cases := map[string]func(t *testing.T, path string){
		"written by another program": func(t *testing.T, path string) {
			db, err := sqlx.Open("sqlite", "file:"+escapePath(path))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("UPDATE account SET username = 'mallory'"); err != nil {
				t.Fatal(err)
			}
		},
		"its -wal grown": func(t *testing.T, path string) {
			f, err := os.OpenFile(path+"-wal", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
		},
		"replaced": func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".new", b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			p, ann, _ := keptPool(t, Config{})
			change(t, p.tenantPath(ann.ID))
			before := p.Stats()
			s, release, err := p.AcquireLazily(context.Background(), ann.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			if v, ok := s.Memo().Get("k"); ok {
				t.Fatalf("found %v kept from before the file changed", v)
			}
			if after := p.Stats(); after.KeptHits != before.KeptHits || after.Misses != before.Misses+1 || after.KeptMemos != 0 {
				t.Fatalf("stats went from %+v to %+v; want the file opened, the memo dropped", before, after)
			}
		})
	}
	t.Run("removed", func(t *testing.T) {
		p, ann, _ := keptPool(t, Config{})
		if err := removeFiles(p.tenantPath(ann.ID)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.AcquireLazily(context.Background(), ann.ID); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("AcquireLazily of a tenant whose file is gone: %v, want ErrUnavailable", err)
		}
		if got := p.Stats(); got.KeptMemos != 0 || got.MemoBytes != 0 {
			t.Fatalf("the memo of a removed file is still kept: %+v", got)
		}
	})
}

// A Delete does not wait for a Store that has not opened the file, and
// from then on that Store finds nothing in its memo and its statements
// fail with ErrNotFound.
func TestDeleteDropsAKeptMemo(t *testing.T) {
	p, ann, _ := keptPool(t, Config{})
	s, release, err := p.AcquireLazily(context.Background(), ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := p.Delete(context.Background(), ann.ID); err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Memo().Get("k"); ok {
		t.Fatalf("found %v in a deleted tenant's memo", v)
	}
	if s.Memo().Put(s.Memo().Gen(), "late", 1, 1) {
		t.Fatal("a deleted tenant's memo kept a value")
	}
	if err := readAccount(t, s); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a statement on a deleted tenant's lazy store: %v, want ErrNotFound", err)
	}
	if got := p.Stats(); got.KeptMemos != 0 || got.MemoBytes != 0 {
		t.Fatalf("a deleted tenant's memo is still kept: %+v", got)
	}
}

// Kept memos give way: to a Put that needs their bytes, oldest first, and
// past four times MaxOpen (at least 64) of them.
func TestKeptMemosAreBounded(t *testing.T) {
	p, ann, bob := keptPool(t, Config{MemoBytes: 10})
	m, release := acquireMemo(t, p, bob.ID)
	defer release()
	if !m.Put(m.Gen(), "b", "bob's", 8) { // 5 of 10 bytes are ann's
		t.Fatal("a Put that needed a kept memo's bytes was refused")
	}
	if got := p.Stats(); got.KeptMemos != 0 || got.MemoBytes != 8 {
		t.Fatalf("stats %+v; want ann's memo dropped, 8 bytes", got)
	}
	if m.Put(m.Gen(), "c", "more", 8) {
		t.Fatal("a Put past the budget, with nothing kept to drop, was kept")
	}
	s, releaseAnn, err := p.AcquireLazily(context.Background(), ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer releaseAnn()
	if _, ok := s.Memo().Get("k"); ok {
		t.Fatal("a dropped memo answered")
	}

	q := newTestPool(t, Config{MaxOpen: 1})
	for i := range 66 {
		tn := mustProvision(t, q, "user"+string(rune('a'+i/26))+string(rune('a'+i%26)))
		m, release := acquireMemo(t, q, tn.ID)
		m.Put(m.Gen(), "k", i, 1)
		release()
	}
	waitFor(t, "65 handles closed", func() bool { return q.Stats().KeptMemos >= 64 })
	if got := q.Stats().KeptMemos; got != 64 {
		t.Fatalf("%d memos kept, want 64", got)
	}
}

// A Store from AcquireLazily whose memo left the pool (closed) while it
// held it, and which then writes through a handle with a memo of its own,
// has that handle's memo forgotten when it is released: the app's Forget
// went to the closed memo.
func TestALazyStoreThatWritesForgetsTheHandlesMemo(t *testing.T) {
	p, ann, _ := keptPool(t, Config{})
	ctx := context.Background()
	s, release, err := p.AcquireLazily(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	p.forgetKept(ann.ID) // dropped, as by the byte budget
	m, releaseHeld := acquireMemo(t, p, ann.ID)
	defer releaseHeld()
	if m == s.Memo() {
		t.Fatal("a dropped memo was taken up again")
	}
	m.Put(m.Gen(), "k", "read before the write", 5)
	if _, err := s.ExecContext(ctx, "UPDATE account SET username = 'ann2'"); err != nil {
		t.Fatal(err)
	}
	s.Memo().Forget() // what the app does; it reaches the closed memo
	if _, ok := m.Get("k"); !ok {
		t.Fatal("test setup: the handle's memo lost its value early")
	}
	release()
	if v, ok := m.Get("k"); ok {
		t.Fatalf("the handle's memo still answers %v after a write", v)
	}
}

// A cluster node's pool keeps no memo of a closed handle: once released,
// the tenant may be written on another node.
func TestAnOwnedPoolKeepsNoMemo(t *testing.T) {
	p, _, _ := newOwnedPool(t)
	ann := mustProvision(t, p, "ann")
	m, release := acquireMemo(t, p, ann.ID)
	m.Put(m.Gen(), "k", 1, 1)
	release()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats(); got.KeptMemos != 0 || got.MemoBytes != 0 {
		t.Fatalf("an owned pool kept a memo: %+v", got)
	}
}

// Close drops every kept memo.
func TestCloseDropsKeptMemos(t *testing.T) {
	p, _, _ := keptPool(t, Config{})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats(); got.KeptMemos != 0 || got.MemoBytes != 0 {
		t.Fatalf("kept memos outlived Close: %+v", got)
	}
}

// A tenant whose kept memo answers read after read gets its handle back:
// every promoteAfter-th such read reopens its file in the background, and
// the handle takes the memo up, so that the reads after it pay no stats.
func TestAHotKeptTenantGetsItsHandleBack(t *testing.T) {
	p, ann, _ := keptPool(t, Config{})
	before := p.Stats()
	read := func() *Store {
		t.Helper()
		s, release, err := p.AcquireLazily(context.Background(), ann.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if v, ok := s.Memo().Get("k"); !ok || v != "ann's" {
			t.Fatalf("Get = %v, %v; want ann's", v, ok)
		}
		return s
	}
	for range promoteAfter - 1 {
		read()
	}
	if st := p.Stats(); st.Misses != before.Misses || st.KeptMemos != 1 {
		t.Fatalf("after %d reads: %+v; want no open yet", promoteAfter-1, st)
	}
	read()
	waitFor(t, "ann's handle reopened", func() bool {
		st := p.Stats()
		return st.KeptMemos == 0 && st.Misses == before.Misses+1
	})
	if s := read(); s.lazy != nil {
		t.Fatal("a read after the reopen was still answered by a kept memo")
	}
}
