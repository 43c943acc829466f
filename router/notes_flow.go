package router

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/cubbyhq/cubby/notes"
)

// The note flows, shared by the JSON API (api_notes.go) and the HTML app
// (html_notes.go): each works on the signed-in user's store and returns
// what it found or made; the handlers differ only in how they read the
// input (the read function they pass) and show the result. A route's :id
// is checked before its body is read, so an unknown note is 404 whatever
// the body.

// draftReader reads a note's title and body from a request: from a JSON
// body (jsonDraft) or a posted form (formDraft).
type draftReader func(*http.Request) (notes.Draft, error)

// listNotes returns the page of the user's notes, newest first, that r's
// query asks for (see listParams), and what it asked.
func (a *App) listNotes(r *http.Request) (listing, notes.Page, error) {
	v, err := queryOf(r)
	if err != nil {
		return listing{}, notes.Page{}, err
	}
	l, err := listParams(v)
	if err != nil {
		return listing{}, notes.Page{}, err
	}
	page, err := a.notebook.Search(r.Context(), storeOf(r), l.q, l.limit, l.cursor)
	return l, page, err
}

// createNote stores a new note read from r.
func (a *App) createNote(r *http.Request, read draftReader) (notes.Note, error) {
	d, err := read(r)
	if err != nil {
		return notes.Note{}, err
	}
	return a.notebook.Create(r.Context(), storeOf(r), d)
}

// getNote returns the note that the route's :id names.
func (a *App) getNote(r *http.Request) (notes.Note, error) {
	id, err := noteID(r)
	if err != nil {
		return notes.Note{}, err
	}
	return a.notebook.Get(r.Context(), storeOf(r), id)
}

// updateNote replaces the title and body of the note that the route's :id
// names with those read from r.
func (a *App) updateNote(r *http.Request, read draftReader) (notes.Note, error) {
	id, err := noteID(r)
	if err != nil {
		return notes.Note{}, err
	}
	d, err := read(r)
	if err != nil {
		return notes.Note{}, err
	}
	return a.notebook.Update(r.Context(), storeOf(r), id, d)
}

// deleteNote deletes the note that the route's :id names.
func (a *App) deleteNote(r *http.Request) error {
	id, err := noteID(r)
	if err != nil {
		return err
	}
	return a.notebook.Delete(r.Context(), storeOf(r), id)
}

// listing is what a request asks a listing for.
type listing struct {
	q      string
	limit  int    // notes.DefaultLimit unless given
	cursor string // "" for the first page
}

// queryOf reads r's query string, refusing one that cannot be read whole
// (a broken %-escape, a ';'): URL.Query drops such a pair without a word,
// which would turn a cursor that cannot be read into the first page (a
// client following next_cursor would loop) and a search into a listing of
// every note.
func queryOf(r *http.Request) (url.Values, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string could not be read: it must be name=value pairs, %-escaped, joined by &")
	}
	return v, nil
}

// listParams reads q, limit and cursor. A cursor, when given, is given once
// and not empty: a client that sends back an empty next_cursor would
// otherwise start over at the first page forever.
func listParams(v url.Values) (listing, error) {
	l := listing{q: v.Get("q"), limit: notes.DefaultLimit}
	if v.Has("limit") {
		n, err := strconv.Atoi(v.Get("limit"))
		if err != nil {
			return listing{}, badRequest("limit must be a whole number between 1 and 1000")
		}
		l.limit = n
	}
	if err := notes.CheckLimit(l.limit); err != nil {
		return listing{}, err
	}
	if v.Has("cursor") {
		if cs := v["cursor"]; len(cs) != 1 || cs[0] == "" {
			return listing{}, badRequest("cursor must be given once, as the next_cursor of the page before")
		}
		l.cursor = v.Get("cursor")
	}
	return l, nil
}

// noteID reads the :id of the route: a positive decimal number, or the note
// does not exist.
func noteID(r *http.Request) (int64, error) {
	s := param(r, "id")
	if s == "" || len(s) > 18 {
		return 0, errNotFound
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errNotFound
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}
