package notes

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// storeOf provisions name in pool and holds its store for the test.
func storeOf(t *testing.T, pool *tenant.Pool, name string) *tenant.Store {
	t.Helper()
	tn, err := pool.Provision(context.Background(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return heldStore(t, pool, tn.ID)
}

// found is the ids a search for q finds, in order.
func found(t *testing.T, s *tenant.Store, q string) []int64 {
	t.Helper()
	p, err := Notebook{}.Search(context.Background(), s, q, MaxLimit, "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, n := range p.Notes {
		ids = append(ids, n.ID)
	}
	return ids
}

// pending is how many notes wait to be indexed (up to indexBatch).
func pending(t *testing.T, s *tenant.Store) int {
	t.Helper()
	n, err := pendingNotes(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// indexMatchesNotes fails unless the full-text index holds exactly every
// note's current title and body (FTS5's own check against its content
// table); run it when nothing is pending.
func indexMatchesNotes(t *testing.T, s *tenant.Store) {
	t.Helper()
	if _, err := s.ExecContext(context.Background(), "INSERT INTO notes_fts (notes_fts, rank) VALUES ('integrity-check', 1)"); err != nil {
		t.Errorf("the index does not match the notes: %v", err)
	}
}

// TestSearchSeesEveryWrite: a search finds what the writes before it left,
// whether or not a batch has indexed them yet: a new note, an indexed note
// updated (its new words, not its old), a pending note updated, deleted
// notes (gone, indexed or not).
func TestSearchSeesEveryWrite(t *testing.T) {
	ctx := context.Background()
	s := storeOf(t, tenanttest.New(t, tenant.Config{Migrations: tenanttest.Migrations(t, "../schema.sql")}), "alice")
	nb := Notebook{}
	a, err := nb.Create(ctx, s, Draft{Title: "apple", Body: "crumble"})
	if err != nil {
		t.Fatal(err)
	}
	if pending(t, s) != 1 {
		t.Fatalf("a new note is not pending")
	}
	if got := found(t, s, "apple"); !slices.Equal(got, []int64{a.ID}) {
		t.Fatalf("search for a new note: %v", got)
	}
	if pending(t, s) != 0 {
		t.Fatalf("the search left notes pending")
	}
	// Indexed, then updated: pending again, found by its new words only.
	if _, err := nb.Update(ctx, s, a.ID, Draft{Title: "banana", Body: "bread"}); err != nil {
		t.Fatal(err)
	}
	if pending(t, s) != 1 {
		t.Errorf("an indexed note updated is not pending")
	}
	if got := found(t, s, "apple"); len(got) != 0 {
		t.Errorf("old words still find the note: %v", got)
	}
	if got := found(t, s, "bread"); !slices.Equal(got, []int64{a.ID}) {
		t.Errorf("new words: %v", got)
	}
	// Pending, updated, then deleted; indexed, then deleted.
	b, err := nb.Create(ctx, s, Draft{Title: "cherry", Body: "pie"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nb.Update(ctx, s, b.ID, Draft{Title: "damson", Body: "jam"}); err != nil {
		t.Fatal(err)
	}
	if got := found(t, s, "cherry"); len(got) != 0 {
		t.Errorf("a pending note's old words: %v", got)
	}
	if got := found(t, s, "damson"); !slices.Equal(got, []int64{b.ID}) {
		t.Errorf("a pending note's new words: %v", got)
	}
	c, err := nb.Create(ctx, s, Draft{Title: "damson", Body: "tart"})
	if err != nil {
		t.Fatal(err)
	}
	if err := nb.Delete(ctx, s, c.ID); err != nil { // pending
		t.Fatal(err)
	}
	if err := nb.Delete(ctx, s, b.ID); err != nil { // indexed
		t.Fatal(err)
	}
	if got := found(t, s, "damson"); len(got) != 0 {
		t.Errorf("deleted notes found: %v", got)
	}
	indexMatchesNotes(t, s)
}

// TestWritesIndexInBatches: with no search, the write that leaves
// indexBatch notes pending indexes them all.
func TestWritesIndexInBatches(t *testing.T) {
	ctx := context.Background()
	s := storeOf(t, tenanttest.New(t, tenant.Config{Migrations: tenanttest.Migrations(t, "../schema.sql")}), "alice")
	nb := Notebook{}
	for i := range indexBatch - 1 {
		if _, err := nb.Create(ctx, s, Draft{Title: fmt.Sprintf("note %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := pending(t, s); n != indexBatch-1 {
		t.Fatalf("%d pending, want %d", n, indexBatch-1)
	}
	if _, err := nb.Create(ctx, s, Draft{Title: "the last of a batch"}); err != nil {
		t.Fatal(err)
	}
	if n := pending(t, s); n != 0 {
		t.Errorf("%d pending after a full batch, want 0", n)
	}
	indexMatchesNotes(t, s)
}

// TestIndexStaysExactUnderRandomWrites: creates, updates and deletes in a
// random order, with searches among them, always find what a scan of the
// notes finds, and leave the index matching the notes.
func TestIndexStaysExactUnderRandomWrites(t *testing.T) {
	ctx := context.Background()
	s := storeOf(t, tenanttest.New(t, tenant.Config{Migrations: tenanttest.Migrations(t, "../schema.sql")}), "alice")
	nb := Notebook{}
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"fig", "kiwi", "lime", "pear", "plum", "sloe"}
	text := map[int64]string{}
	var ids []int64
	for step := range 600 {
		switch op := rng.IntN(10); {
		case op < 5 || len(ids) == 0:
			w := words[rng.IntN(len(words))]
			n, err := nb.Create(ctx, s, Draft{Title: w})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, n.ID)
			text[n.ID] = w
		case op < 8:
			id := ids[rng.IntN(len(ids))]
			w := words[rng.IntN(len(words))]
			if _, err := nb.Update(ctx, s, id, Draft{Title: w}); err != nil {
				t.Fatal(err)
			}
			text[id] = w
		case op < 9:
			i := rng.IntN(len(ids))
			if err := nb.Delete(ctx, s, ids[i]); err != nil {
				t.Fatal(err)
			}
			delete(text, ids[i])
			ids = slices.Delete(ids, i, i+1)
		default:
			w := words[rng.IntN(len(words))]
			var want []int64
			for id, tw := range text {
				if tw == w {
					want = append(want, id)
				}
			}
			slices.Sort(want)
			got := found(t, s, w)
			slices.Sort(got)
			if len(want) > MaxLimit {
				want, got = want[:0], got[:0] // a page holds at most MaxLimit
			}
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: search %q found %v, want %v", step, w, got, want)
			}
		}
	}
	if err := indexPending(ctx, s); err != nil {
		t.Fatal(err)
	}
	indexMatchesNotes(t, s)
}

// TestNotesIndexedBeforeTheUpgradeStaySearchable: a file whose notes were
// indexed one write at a time (migration 1 only) opens at migration 2 with
// nothing pending; its notes are found, and updating or deleting one keeps
// the index exact.
func TestNotesIndexedBeforeTheUpgradeStaySearchable(t *testing.T) {
	ctx := context.Background()
	s, upgrade := atMigration(t, 1)
	var ids []int64
	for _, w := range []string{"quince", "rowan", "quince"} {
		var id int64
		if err := s.GetContext(ctx, &id, "INSERT INTO notes (title, body, created_at, updated_at) VALUES (?, '', ?, ?) RETURNING id",
			w, "2025-01-01T00:00:00.000000000Z", "2025-01-01T00:00:00.000000000Z"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	s = upgrade()
	if n := pending(t, s); n != 0 {
		t.Errorf("%d notes pending after the upgrade; they were indexed", n)
	}
	if got := found(t, s, "quince"); len(got) != 2 {
		t.Errorf("notes from before the upgrade: %v", got)
	}
	nb := Notebook{}
	if _, err := nb.Update(ctx, s, ids[0], Draft{Title: "rowan"}); err != nil {
		t.Fatal(err)
	}
	if err := nb.Delete(ctx, s, ids[2]); err != nil {
		t.Fatal(err)
	}
	if got := found(t, s, "quince"); len(got) != 0 {
		t.Errorf("quince after its notes changed: %v", got)
	}
	if got := found(t, s, "rowan"); len(got) != 2 {
		t.Errorf("rowan: %v", got)
	}
	indexMatchesNotes(t, s)
}

// atMigration provisions alice in a file at the schema's first n
// migrations and returns her store, and upgrade, which closes that pool
// and returns her store in a pool of the whole schema.
func atMigration(t *testing.T, n int) (s *tenant.Store, upgrade func() *tenant.Store) {
	t.Helper()
	all := tenanttest.Migrations(t, "../schema.sql")
	dir := t.TempDir()
	old := tenanttest.New(t, tenant.Config{Dir: dir, Migrations: all[:n]})
	tn, err := old.Provision(context.Background(), "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, release, err := old.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s, func() *tenant.Store {
		t.Helper()
		release()
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		return heldStore(t, tenanttest.New(t, tenant.Config{Dir: dir, Migrations: all}), tn.ID)
	}
}

// heldStore holds the store of an existing tenant for the test.
func heldStore(t *testing.T, pool *tenant.Pool, id string) *tenant.Store {
	t.Helper()
	s, release, err := pool.Acquire(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return s
}

// TestPendingNotesOutliveTheHandle: notes still pending when their file
// closes (an eviction, a shutdown, a crash after the commit) are rows like
// any other: the next search after a reopen indexes and finds them.
func TestPendingNotesOutliveTheHandle(t *testing.T) {
	ctx := context.Background()
	ms := tenanttest.Migrations(t, "../schema.sql")
	dir := t.TempDir()
	first := tenanttest.New(t, tenant.Config{Dir: dir, Migrations: ms})
	tn, err := first.Provision(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, release, err := first.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := (Notebook{}).Create(ctx, s, Draft{Title: "medlar"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := pending(t, s); n != 5 {
		t.Fatalf("%d pending, want 5", n)
	}
	release()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	s = heldStore(t, tenanttest.New(t, tenant.Config{Dir: dir, Migrations: ms}), tn.ID)
	if got := found(t, s, "medlar"); len(got) != 5 {
		t.Errorf("after a reopen: %d notes found, want 5", len(got))
	}
	indexMatchesNotes(t, s)
}

// TestSearchOnAFullDiskStaysExact: when the disk has no room for a batch
// of the index, a search still finds exactly what it would have, pending
// notes included, across pages, and writes nothing; once there is room,
// the next search indexes them as usual.
func TestSearchOnAFullDiskStaysExact(t *testing.T) {
	ctx := context.Background()
	pool := tenanttest.New(t, tenant.Config{Migrations: tenanttest.Migrations(t, "../schema.sql")})
	s := storeOf(t, pool, "alice")
	start, ticks := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), 0
	nb := Notebook{Now: func() time.Time { ticks++; return start.Add(time.Duration(ticks) * time.Second) }}
	// Many distinct words: indexing them needs pages no free list holds.
	var words strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&words, " word%d", i)
	}
	create := func(title string) Note {
		t.Helper()
		n, err := nb.Create(ctx, s, Draft{Title: title, Body: "a note" + words.String()})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	renamed := create("apples first")
	create("pears")
	if _, err := nb.Search(ctx, s, "apples", 10, ""); err != nil { // indexes both
		t.Fatal(err)
	}
	create("apples second")
	create("apples third")
	if _, err := nb.Update(ctx, s, renamed.ID, Draft{Title: "bananas", Body: "a note" + words.String()}); err != nil {
		t.Fatal(err)
	}
	pages := func() int {
		var n int
		if err := s.GetContext(ctx, &n, "PRAGMA page_count"); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := pages()
	// Writes run on the handle's own connection, where the limit holds: no
	// more pages than the file has now.
	if _, err := s.ExecContext(ctx, "PRAGMA max_page_count = 1"); err != nil {
		t.Fatal(err)
	}
	if err := indexPending(ctx, s); !errors.Is(err, tenant.ErrFull) {
		t.Fatalf("the batch on a full file: %v; this test needs tenant.ErrFull", err)
	}
	titles := func(q string, limit int, after string) ([]string, string) {
		t.Helper()
		p, err := nb.Search(ctx, s, q, limit, after)
		if err != nil {
			t.Fatalf("search %q on a full disk: %v", q, err)
		}
		var out []string
		for _, n := range p.Notes {
			out = append(out, n.Title)
		}
		return out, p.Next
	}
	for q, want := range map[string][]string{
		"apples":  {"apples third", "apples second"}, // not the note renamed bananas
		"bananas": {"bananas"},
		"pears":   {"pears"},
		"note":    {"apples third", "apples second", "pears", "bananas"}, // newest first; bananas was the first
		"kiwis":   nil,
	} {
		if got, next := titles(q, 10, ""); !slices.Equal(got, want) || next != "" {
			t.Errorf("search %q on a full disk: %q (next %q), want %q", q, got, next, want)
		}
	}
	first, next := titles("note", 3, "")
	rest, last := titles("note", 3, next)
	if !slices.Equal(first, []string{"apples third", "apples second", "pears"}) || !slices.Equal(rest, []string{"bananas"}) || last != "" {
		t.Errorf("paged on a full disk: %q then %q (next %q)", first, rest, last)
	}
	var pending int
	if err := s.GetContext(ctx, &pending, "SELECT count(*) FROM notes WHERE pending = 1"); err != nil || pending != 3 {
		t.Fatalf("pending notes after searching a full disk: %d, %v; want 3", pending, err)
	}
	if got := pages(); got != before {
		t.Fatalf("searching a full disk changed the file: %d pages, then %d", before, got)
	}

	// Room again: the next search indexes the pending notes.
	if _, err := s.ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if got, _ := titles("apples", 10, ""); !slices.Equal(got, []string{"apples third", "apples second"}) {
		t.Fatalf("search with room again: %q", got)
	}
	if err := s.GetContext(ctx, &pending, "SELECT count(*) FROM notes WHERE pending = 1"); err != nil || pending != 0 {
		t.Fatalf("pending notes once there is room: %d, %v; want 0", pending, err)
	}
	indexMatchesNotes(t, s)
}
