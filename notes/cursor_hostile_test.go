package notes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// TestAVersion1CursorContinuesItsOwnOrder: a file at migration 4 listed by
// created_at, then id, whose notes were not made in the order of their
// clock (the clock was set back while they were written), gives out a
// version 1 cursor; after the upgrade that cursor lists every note the
// first page did not, each once — none skipped, none again — in the order
// its first page began, and its next cursors continue that order to the
// end, through the listing and a search alike, on a full disk too (where a
// search runs without indexing its pending notes: searchUnindexed).
func TestAVersion1CursorContinuesItsOwnOrder(t *testing.T) {
	ctx := context.Background()
	s, upgrade := atMigration(t, 4)
	// Made in this order (ids 1…8); their clock went back twice.
	seconds := []int{10, 40, 20, 30, 5, 50, 50, 15}
	// Many distinct words: indexing them needs pages no free list holds.
	var words strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&words, " word%d", i)
	}
	var made []Note
	for i, sec := range seconds {
		at := time.Date(2026, 1, 1, 0, 0, sec, 0, time.UTC)
		n, err := Notebook{Now: func() time.Time { return at }}.Create(ctx, s, Draft{Title: fmt.Sprint("note ", i), Body: "fruit" + words.String()})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, n)
	}
	// The order the build before listed them in: created_at, then id, newest first.
	old := slices.Clone(made)
	slices.SortFunc(old, func(a, b Note) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return int(b.ID - a.ID)
	})
	const first = 3
	cursors := map[string]string{
		"":      encodeV1(old[first-1].CreatedAt, old[first-1].ID, ""),
		"fruit": encodeV1(old[first-1].CreatedAt, old[first-1].ID, mustMatchExpr(t, "fruit")),
	}
	s = upgrade()
	for _, full := range []bool{true, false} {
		pages := 1073741823
		if full {
			pages = 1 // no more than the file has now
		}
		if _, err := s.ExecContext(ctx, fmt.Sprint("PRAGMA max_page_count = ", pages)); err != nil {
			t.Fatal(err)
		}
		if full {
			if err := indexPending(ctx, s); !errors.Is(err, tenant.ErrFull) {
				t.Fatalf("the batch on a full file: %v; this test needs tenant.ErrFull", err)
			}
		}
		for q, after := range cursors {
			var got []int64
			for range len(made) + 1 {
				p, err := Notebook{}.Search(ctx, s, q, 2, after)
				if err != nil {
					t.Fatalf("search %q (full disk %v) after a version 1 cursor: %v", q, full, err)
				}
				got = append(got, ids(p.Notes)...)
				if after = p.Next; after == "" {
					break
				}
			}
			if want := ids(old[first:]); !slices.Equal(got, want) {
				t.Errorf("search %q (full disk %v): a version 1 cursor after the first %d of %v went on with %v; want %v",
					q, full, first, ids(old), got, want)
			}
		}
	}
}

func mustMatchExpr(t *testing.T, q string) string {
	t.Helper()
	e, err := MatchExpr(q)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
