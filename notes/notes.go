// Package notes is the notes app's data: the queries that create, read,
// change, delete, list and search one user's notes, given that user's
// *tenant.Store.
//
// It knows nothing of HTTP or sessions; the store it is handed is the only
// database it can reach, so it cannot touch another user's notes. A second
// app on the same tenancy core would be a sibling package like this one.
package notes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cubbyhq/cubby/tenant"
)

// Limits of a note and of a listing.
const (
	MaxTitleRunes = 200     // a title is 1–200 runes and not blank
	MaxBodyBytes  = 1 << 20 // a body is at most 1 MiB
	DefaultLimit  = 50      // notes listed when no limit is given
	MaxLimit      = 1000    // the most notes one listing returns
)

// ErrNotFound means the user has no note with that id.
var ErrNotFound = errors.New("note not found")

// ErrInvalidNote is what every ValidationError wraps.
var ErrInvalidNote = errors.New("invalid note")

// ValidationError says which field of a Draft breaks the rules and why, in
// words meant for the person who typed it.
type ValidationError struct {
	Field   string // "title" or "body"
	Message string
}

// Error is the message for people.
func (e *ValidationError) Error() string { return e.Message }

// Unwrap makes every ValidationError match ErrInvalidNote.
func (e *ValidationError) Unwrap() error { return ErrInvalidNote }

// Note is one stored note.
type Note struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Draft is what a person writes: the fields of a note they control.
type Draft struct {
	Title string
	Body  string
}

// Validate checks d against the rules of a note: valid UTF-8; no control
// characters but tab, newline and carriage return; a title of 1–200 runes
// with at least one visible character (see visible); a body of at most 1 MiB.
func (d Draft) Validate() error {
	switch {
	case !utf8.ValidString(d.Title):
		return &ValidationError{"title", "title must be valid UTF-8 text"}
	case hasControl(d.Title):
		return &ValidationError{"title", "title must not contain control characters"}
	case strings.IndexFunc(d.Title, visible) < 0:
		return &ValidationError{"title", "title must not be blank: it needs at least one visible character"}
	case utf8.RuneCountInString(d.Title) > MaxTitleRunes:
		return &ValidationError{"title", fmt.Sprintf("title must be at most %d characters", MaxTitleRunes)}
	case !utf8.ValidString(d.Body):
		return &ValidationError{"body", "body must be valid UTF-8 text"}
	case len(d.Body) > MaxBodyBytes:
		return &ValidationError{"body", "body must be at most 1 MiB"}
	case hasControl(d.Body):
		return &ValidationError{"body", "body must not contain control characters other than tab and new lines"}
	}
	return nil
}

// hasControl reports whether s holds a control character (C0, DEL or C1)
// other than tab, newline and carriage return.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
	}) >= 0
}

// visible reports whether r shows as something on its own: a graphic rune
// that is not white space, not a format character (U+200B, U+2060, U+FEFF,
// U+00AD, bidi controls, tags), not a mark (which needs a base: combining
// marks, variation selectors), not one of the other default-ignorable code
// points (the Hangul fillers U+115F, U+1160, U+3164, U+FFA0), and not the
// blank Braille pattern U+2800.
func visible(r rune) bool {
	return unicode.IsGraphic(r) && !unicode.IsSpace(r) && r != '\u2800' &&
		!unicode.In(r, unicode.Cf, unicode.M, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// Notebook runs the notes queries on the store it is handed. Its zero value
// is ready to use, with the wall clock.
type Notebook struct {
	// Now is the clock that stamps notes (default time.Now).
	Now func() time.Time
}

func (nb Notebook) now() string {
	now := time.Now
	if nb.Now != nil {
		now = nb.Now
	}
	return now().UTC().Format(timeLayout)
}

const columns = "id, title, body, created_at, updated_at"

// queryNotes runs query, which returns the columns above, and reads every
// row it returns: to the end, so that a write through it commits and may
// checkpoint (see tenant.Store.GetContext). The rows are scanned by hand,
// the times without time.Parse; size is how many rows to expect.
func queryNotes(ctx context.Context, s *tenant.Store, size int, query string, args ...any) ([]Note, error) {
	rows, err := s.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanNotes(rows, size)
}

// writtenColumns are what a write of one note returns, before
// pendingColumn: not its title and body, which are the draft's as written
// (SQLite keeps text exactly as it is given), so that a write does not
// copy them back out of SQLite, up to 1 MiB of body.
const writtenColumns = "id, created_at, updated_at"

// writeNote runs query, an INSERT or UPDATE of d that returns
// writtenColumns and then pendingColumn, and returns the note and how many
// notes wait to be indexed (at most indexBatch + 1): counted by the write
// itself, so that learning whether a batch is due costs no statement of
// its own (one was 8% of the server's CPU under 64 writers). It reads the
// rows to their end, as queryNotes does; no row is ErrNotFound.
func writeNote(ctx context.Context, s *tenant.Store, d Draft, query string, args ...any) (Note, int, error) {
	rows, err := s.QueryContext(ctx, query, append(args, indexBatch)...)
	if err != nil {
		return Note{}, 0, err
	}
	defer rows.Close()
	n, pending, found := Note{Title: d.Title, Body: d.Body}, 0, false
	var created, updated sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&n.ID, &created, &updated, &pending); err != nil {
			return Note{}, 0, tenant.Classify(err)
		}
		if n.CreatedAt, err = parseStamp(created); err != nil {
			return Note{}, 0, fmt.Errorf("note %d created_at: %w", n.ID, err)
		}
		if n.UpdatedAt, err = parseStamp(updated); err != nil {
			return Note{}, 0, fmt.Errorf("note %d updated_at: %w", n.ID, err)
		}
		found = true
	}
	if err := rows.Err(); err != nil {
		return Note{}, 0, tenant.Classify(err)
	}
	if err := rows.Close(); err != nil {
		return Note{}, 0, tenant.Classify(err)
	}
	if !found {
		return Note{}, 0, ErrNotFound
	}
	return n, pending, nil
}

// scanNotes reads rows to their end and closes them (see queryNotes).
func scanNotes(rows *sql.Rows, size int) ([]Note, error) {
	defer rows.Close()
	out := make([]Note, 0, size)
	var created, updated sql.RawBytes // reused from row to row
	dest := []any{nil, nil, nil, &created, &updated}
	var err error
	for rows.Next() {
		var n Note
		dest[0], dest[1], dest[2] = &n.ID, &n.Title, &n.Body
		if err := rows.Scan(dest...); err != nil {
			return nil, tenant.Classify(err)
		}
		if n.CreatedAt, err = parseStamp(created); err != nil {
			return nil, fmt.Errorf("note %d created_at: %w", n.ID, err)
		}
		if n.UpdatedAt, err = parseStamp(updated); err != nil {
			return nil, fmt.Errorf("note %d updated_at: %w", n.ID, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, tenant.Classify(err)
	}
	return out, tenant.Classify(rows.Close())
}

// one is the note of what queryNotes returned for a query of at most one
// note; no note is ErrNotFound.
func one(ns []Note, err error) (Note, error) {
	if err != nil {
		return Note{}, err
	}
	if len(ns) == 0 {
		return Note{}, ErrNotFound
	}
	return ns[0], nil
}

// The fixed queries of a single note.
const (
	insertQuery = "INSERT INTO notes (title, body, created_at, updated_at, pending) VALUES (?, ?, ?, ?, 1) RETURNING " + writtenColumns + ", " + pendingColumn
	getQuery    = "SELECT " + columns + " FROM notes WHERE id = ?"
	updateQuery = "UPDATE notes SET title = ?, body = ?, updated_at = ? WHERE id = ? RETURNING " + writtenColumns + ", " + pendingColumn
	deleteQuery = "DELETE FROM notes WHERE id = ?"
	countQuery  = "SELECT count(*) FROM notes"
)

// Create stores a new note and returns it.
func (nb Notebook) Create(ctx context.Context, s *tenant.Store, d Draft) (Note, error) {
	if err := d.Validate(); err != nil {
		return Note{}, err
	}
	ctx, err := keyed(ctx)
	if err != nil {
		return Note{}, fmt.Errorf("insert note: %w", err)
	}
	defer s.Memo().Forget() // after the write: see tenant.Memo
	now := nb.now()
	n, pending, err := writeNote(ctx, s, d, insertQuery, d.Title, d.Body, now, now)
	if err != nil {
		return Note{}, fmt.Errorf("insert note: %w", err)
	}
	indexIfDue(ctx, s, pending)
	return n, nil
}

// keyed is the context a statement on one note by its id runs under: ctx's
// values without its end, once ctx has been checked. Such a statement
// reads or writes a few pages (a note of at most 1 MiB), so interrupting it
// saves nothing, while a context that can end costs a goroutine in
// database/sql and another in the SQLite driver for the length of every
// statement — about half again the price of a read (BenchmarkGet). A
// request whose client has already gone is refused before it starts.
// Listings, counts and searches, whose work grows with the notebook, keep
// ctx.
func keyed(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// Get returns the note with id, or ErrNotFound. A note read once is kept
// in the handle's memo (tenant.Memo) and answered from there until the
// next write through the Notebook (Create, Update, Delete forget it all).
func (nb Notebook) Get(ctx context.Context, s *tenant.Store, id int64) (Note, error) {
	if err := ctx.Err(); err != nil {
		return Note{}, fmt.Errorf("get note: %w", err)
	}
	memo := s.Memo()
	if v, ok := memo.Get(noteKey(id)); ok {
		return *v.(*Note), nil
	}
	gen := memo.Gen()
	ctx, err := keyed(ctx)
	if err != nil {
		return Note{}, fmt.Errorf("get note: %w", err)
	}
	n, err := one(queryNotes(ctx, s, 1, getQuery, id))
	if errors.Is(err, ErrNotFound) {
		return Note{}, err
	}
	if err != nil {
		return Note{}, fmt.Errorf("get note: %w", err)
	}
	kept := n
	memo.Put(gen, noteKey(id), &kept, noteSize(n))
	return n, nil
}

// noteKey is the memo key of a note by id: a type of this package, so no
// other app's key can equal it.
type noteKey int64

// noteSize is about what a kept note holds in memory.
func noteSize(n Note) int { return 128 + len(n.Title) + len(n.Body) }

// Update replaces the title and body of the note with id and returns it.
func (nb Notebook) Update(ctx context.Context, s *tenant.Store, id int64, d Draft) (Note, error) {
	if err := d.Validate(); err != nil {
		return Note{}, err
	}
	ctx, err := keyed(ctx)
	if err != nil {
		return Note{}, fmt.Errorf("update note: %w", err)
	}
	defer s.Memo().Forget() // after the write: see tenant.Memo
	n, pending, err := writeNote(ctx, s, d, updateQuery, d.Title, d.Body, nb.now(), id)
	if errors.Is(err, ErrNotFound) {
		return Note{}, err
	}
	if err != nil {
		return Note{}, fmt.Errorf("update note: %w", err)
	}
	indexIfDue(ctx, s, pending)
	return n, nil
}

// Delete removes the note with id, or returns ErrNotFound.
func (nb Notebook) Delete(ctx context.Context, s *tenant.Store, id int64) error {
	ctx, err := keyed(ctx)
	if err != nil {
		return fmt.Errorf("delete note: %w", err)
	}
	defer s.Memo().Forget() // after the write: see tenant.Memo
	res, err := s.ExecContext(ctx, deleteQuery, id)
	if err != nil {
		return fmt.Errorf("delete note: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete note: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Count returns how many notes the user has.
func (nb Notebook) Count(ctx context.Context, s *tenant.Store) (int, error) {
	var n int
	if err := s.GetContext(ctx, &n, countQuery); err != nil {
		return 0, fmt.Errorf("count notes: %w", err)
	}
	return n, nil
}
