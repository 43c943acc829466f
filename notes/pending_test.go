package notes

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// TestANoteGivenAnIndexedIDIsPending: once the newest notes are deleted
// after a batch, SQLite gives the next note an id at or below the mark of
// the ids indexed (schema.sql, migration 4); that note is still pending,
// found by its own words and not by those of the note that had its id.
func TestANoteGivenAnIndexedIDIsPending(t *testing.T) {
	ctx := context.Background()
	s := storeOf(t, tenanttest.New(t, tenant.Config{Migrations: tenanttest.Migrations(t, "../schema.sql")}), "alice")
	nb := Notebook{}
	a, err := nb.Create(ctx, s, Draft{Title: "apple"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := nb.Create(ctx, s, Draft{Title: "bramble"})
	if err != nil {
		t.Fatal(err)
	}
	if got := found(t, s, "bramble"); !slices.Equal(got, []int64{b.ID}) { // indexes both
		t.Fatalf("search before the delete: %v", got)
	}
	if err := nb.Delete(ctx, s, b.ID); err != nil {
		t.Fatal(err)
	}
	c, err := nb.Create(ctx, s, Draft{Title: "cherry"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != b.ID {
		t.Fatalf("the new note has id %d, not the deleted note's %d: this test needs SQLite to reuse it", c.ID, b.ID)
	}
	if n := pending(t, s); n != 1 {
		t.Fatalf("%d pending, want 1 (the note with the reused id)", n)
	}
	if got := found(t, s, "cherry"); !slices.Equal(got, []int64{c.ID}) {
		t.Errorf("the note with the reused id: %v", got)
	}
	if got := found(t, s, "bramble"); len(got) != 0 {
		t.Errorf("the deleted note's words: %v", got)
	}
	if got := found(t, s, "apple"); !slices.Equal(got, []int64{a.ID}) {
		t.Errorf("the note before them: %v", got)
	}
	indexMatchesNotes(t, s)
}

// TestNotesPendingBeforeTheMarkStayPending: notes left pending by a file
// at migration 3 (one new, one indexed and then edited) are still pending
// once the file has the mark of indexed ids (migration 4), and the next
// search indexes them with their current words.
func TestNotesPendingBeforeTheMarkStayPending(t *testing.T) {
	ctx := context.Background()
	s, upgrade := atMigration(t, 3)
	const insert = "INSERT INTO notes (title, body, created_at, updated_at) VALUES (?, '', ?, ?)"
	const stamp = "2025-01-01T00:00:00.000000000Z"
	for _, w := range []string{"quince", "rowan"} {
		if _, err := s.ExecContext(ctx, insert, w, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	// The batch as migration 2 and 3 ran it.
	if _, err := s.ExecContext(ctx, "INSERT INTO notes_fts (rowid, title, body) SELECT id, title, body FROM notes WHERE pending = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExecContext(ctx, "UPDATE notes SET pending = 0 WHERE pending = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExecContext(ctx, "UPDATE notes SET title = 'sorb' WHERE title = 'quince'"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExecContext(ctx, insert, "medlar", stamp, stamp); err != nil {
		t.Fatal(err)
	}
	s = upgrade()
	if n := pending(t, s); n != 2 {
		t.Fatalf("%d pending after the upgrade, want 2 (the edited note and the new one)", n)
	}
	for q, want := range map[string]int{"sorb": 1, "medlar": 1, "rowan": 1, "quince": 0} {
		if got := found(t, s, q); len(got) != want {
			t.Errorf("search %q after the upgrade: %v, want %d notes", q, got, want)
		}
	}
	if n := pending(t, s); n != 0 {
		t.Errorf("%d pending after a search, want 0", n)
	}
	indexMatchesNotes(t, s)
}

// TestAListingOutlivesMigration5: a file at migration 4 (notes_created, a
// listing by created_at) is upgraded; its notes list newest first as
// before, notes_created is gone, and a cursor given out before the upgrade
// (version 1) continues where it left off.
func TestAListingOutlivesMigration5(t *testing.T) {
	ctx := context.Background()
	s, upgrade := atMigration(t, 4)
	nb := Notebook{}
	var made []Note
	for i := range 12 {
		n, err := nb.Create(ctx, s, Draft{Title: fmt.Sprint("note ", i)})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, n)
	}
	slices.Reverse(made)
	// The first page of five as the build before gave it: its cursor names
	// the fifth note's created_at and id.
	v1 := encodeV1(made[4].CreatedAt, made[4].ID, "")
	s = upgrade()
	var index int
	if err := s.GetContext(ctx, &index, "SELECT count(*) FROM sqlite_schema WHERE name = 'notes_created'"); err != nil || index != 0 {
		t.Fatalf("notes_created after migration 5: %d (err %v)", index, err)
	}
	first, err := nb.List(ctx, s, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	rest, err := nb.List(ctx, s, 50, v1)
	if err != nil {
		t.Fatalf("a version 1 cursor after the upgrade: %v", err)
	}
	got := append(ids(first.Notes), ids(rest.Notes)...)
	if want := ids(made); !slices.Equal(got, want) {
		t.Fatalf("listed %v; want %v", got, want)
	}
}

// TestACreateWritesOnePage: a note made on a file with room in its last
// page adds one page to the WAL (the row's), not a page per index.
func TestACreateWritesOnePage(t *testing.T) {
	ctx := context.Background()
	s := storeOf(t, tenanttest.New(t, tenant.Config{Migrations: tenanttest.Migrations(t, "../schema.sql")}), "alice")
	nb := Notebook{}
	for i := range 3 {
		if _, err := nb.Create(ctx, s, Draft{Title: fmt.Sprint("note ", i), Body: "a few words"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.Create(ctx, s, Draft{Title: "one more", Body: "a few words"}); err != nil {
		t.Fatal(err)
	}
	var wal struct {
		Busy   int `db:"busy"`
		Frames int `db:"log"`
		Copied int `db:"checkpointed"`
	}
	if err := s.GetContext(ctx, &wal, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		t.Fatal(err)
	}
	if wal.Frames != 1 {
		t.Errorf("a create wrote %d pages to the WAL; want 1", wal.Frames)
	}
}

func ids(ns []Note) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}
