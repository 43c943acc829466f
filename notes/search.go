package notes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cubbyhq/cubby/tenant"
)

// Bounds on a search, so that no query costs much to parse or run.
const (
	MaxQueryBytes = 1024
	MaxQueryWords = 32
)

// ErrBadQuery is what every QueryError wraps.
var ErrBadQuery = errors.New("bad query")

// QueryError says why a listing's limit or search text was refused, in words
// meant for the person who sent it.
type QueryError struct{ Message string }

// Error is the message for people.
func (e *QueryError) Error() string { return e.Message }

// Unwrap makes every QueryError match ErrBadQuery.
func (e *QueryError) Unwrap() error { return ErrBadQuery }

// MatchExpr turns what a person typed into an FTS5 MATCH expression: every
// word quoted as a string (so no FTS5 operator, column filter or prefix
// syntax survives) and all of them required. Words are split at white space,
// control characters and invalid UTF-8; none of those can reach FTS5. An
// empty result means q holds no words. Over-long queries are a QueryError.
func MatchExpr(q string) (string, error) {
	if len(q) > MaxQueryBytes {
		return "", &QueryError{fmt.Sprintf("search text must be at most %d bytes", MaxQueryBytes)}
	}
	words := strings.FieldsFunc(q, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
	})
	if len(words) > MaxQueryWords {
		return "", &QueryError{fmt.Sprintf("search text must be at most %d words", MaxQueryWords)}
	}
	for i, w := range words {
		words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	return strings.Join(words, " "), nil
}

// CheckLimit reports whether limit is a valid listing size (1–MaxLimit).
func CheckLimit(limit int) error {
	if limit < 1 || limit > MaxLimit {
		return &QueryError{fmt.Sprintf("limit must be between 1 and %d", MaxLimit)}
	}
	return nil
}

// Page is one page of a listing, newest first.
type Page struct {
	Notes []Note
	// Next continues the listing after Notes; "" on the last page.
	Next string
}

// The listing queries, newest first (by id: a note's id is one above the
// highest when it is made), each reading one row more than the page holds
// to learn whether another page follows. The "after" ones continue below a
// cursor's id, on the table's own order.
const (
	listQuery        = "SELECT " + columns + " FROM notes ORDER BY id DESC LIMIT ?"
	listAfterQuery   = "SELECT " + columns + " FROM notes WHERE id < ? ORDER BY id DESC LIMIT ?"
	searchQuery      = "SELECT " + columns + " FROM notes WHERE id IN (SELECT rowid FROM notes_fts WHERE notes_fts MATCH ?) ORDER BY id DESC LIMIT ?"
	searchAfterQuery = "SELECT " + columns + " FROM notes" +
		" WHERE id IN (SELECT rowid FROM notes_fts WHERE notes_fts MATCH ?) AND id < ? ORDER BY id DESC LIMIT ?"
)

// A version 1 cursor continues the listing it came from in that listing's
// order, created_at then id, newest first (see cursor). No index serves
// that order since migration 5, so each of its pages sorts the notes that
// follow it; such cursors were given out only before the upgrade, and
// their listings end.
const (
	listV1AfterQuery = "SELECT " + columns + " FROM notes WHERE (created_at, id) < (?, ?)" +
		" ORDER BY created_at DESC, id DESC LIMIT ?"
	searchV1AfterQuery = "SELECT " + columns + " FROM notes" +
		" WHERE id IN (SELECT rowid FROM notes_fts WHERE notes_fts MATCH ?) AND (created_at, id) < (?, ?)" +
		" ORDER BY created_at DESC, id DESC LIMIT ?"
)

// List returns a page of up to limit notes, newest first, continuing after
// after (a Page.Next of an earlier List; "" for the first page).
func (nb Notebook) List(ctx context.Context, s *tenant.Store, limit int, after string) (Page, error) {
	return nb.Search(ctx, s, "", limit, after)
}

// Search returns a page of up to limit notes, newest first, whose title or
// body holds every word of q (see MatchExpr); a q without words lists every
// note. after continues from an earlier page of the same search: its
// Page.Next, or "" for the first page; anything else is a QueryError. Each note is on one page only, even as notes are added.
func (nb Notebook) Search(ctx context.Context, s *tenant.Store, q string, limit int, after string) (Page, error) {
	if err := CheckLimit(limit); err != nil {
		return Page{}, err
	}
	expr, err := MatchExpr(q)
	if err != nil {
		return Page{}, err
	}
	var c *cursor
	if after != "" {
		parsed, err := parseCursor(after, expr)
		if err != nil {
			return Page{}, err
		}
		c = &parsed
	}
	// The queries are chosen among constants here (TestNoSQLIsBuiltFromInput).
	query, unindexed, args := listQuery, searchUnindexedQuery, []any{}
	if expr != "" {
		query, args = searchQuery, []any{expr}
	}
	switch {
	case c != nil && c.v1:
		query, unindexed = listV1AfterQuery, searchUnindexedV1AfterQuery
		if expr != "" {
			query = searchV1AfterQuery
		}
		args = append(args, c.createdAt.Format(timeLayout), c.id)
	case c != nil:
		query, unindexed = listAfterQuery, searchUnindexedAfterQuery
		if expr != "" {
			query = searchAfterQuery
		}
		args = append(args, c.id)
	}
	v1 := c != nil && c.v1
	if expr != "" {
		err := indexForSearch(ctx, s)
		if errors.Is(err, tenant.ErrFull) {
			// No room for the index's new segment: search without it.
			ns, err := searchUnindexed(ctx, s, unindexed, append(args, limit+1), limit+1)
			if err != nil {
				return Page{}, fmt.Errorf("search notes on a full disk: %w", err)
			}
			return pageOf(ns, limit, expr, v1), nil
		}
		if err != nil {
			return Page{}, fmt.Errorf("search notes: %w", err)
		}
	}
	ns, err := queryNotes(ctx, s, limit+1, query, append(args, limit+1)...)
	if err != nil {
		return Page{}, fmt.Errorf("list notes: %w", err)
	}
	return pageOf(ns, limit, expr, v1), nil
}

// pageOf makes a page of the first limit notes, with a cursor when there
// are more: of version 1 when v1 (the page continued one).
func pageOf(ns []Note, limit int, expr string, v1 bool) Page {
	more := len(ns) > limit
	if more {
		ns = ns[:limit]
	}
	p := Page{Notes: ns}
	if more {
		last := ns[len(ns)-1]
		p.Next = cursor{id: last.ID, v1: v1, createdAt: last.CreatedAt}.encode(expr)
	}
	return p
}
