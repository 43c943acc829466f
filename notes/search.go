package notes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"cubby/tenant"
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

// List returns up to limit notes, newest first.
func (nb Notebook) List(ctx context.Context, s *tenant.Store, limit int) ([]Note, error) {
	if err := CheckLimit(limit); err != nil {
		return nil, err
	}
	var rows []row
	err := s.SelectContext(ctx, &rows,
		"SELECT "+columns+" FROM notes ORDER BY created_at DESC, id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("list notes: %w", err)
	}
	return notesOf(rows)
}

// Search returns up to limit notes, newest first, whose title or body holds
// every word of q (see MatchExpr). A q without words lists every note.
func (nb Notebook) Search(ctx context.Context, s *tenant.Store, q string, limit int) ([]Note, error) {
	if err := CheckLimit(limit); err != nil {
		return nil, err
	}
	expr, err := MatchExpr(q)
	if err != nil {
		return nil, err
	}
	if expr == "" {
		return nb.List(ctx, s, limit)
	}
	var rows []row
	err = s.SelectContext(ctx, &rows, "SELECT "+columns+" FROM notes"+
		" WHERE id IN (SELECT rowid FROM notes_fts WHERE notes_fts MATCH ?)"+
		" ORDER BY created_at DESC, id DESC LIMIT ?", expr, limit)
	if err != nil {
		return nil, fmt.Errorf("search notes: %w", err)
	}
	return notesOf(rows)
}
