package router

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/julienschmidt/httprouter"

	"cubby/notes"
)

// draftRequest is the body of note creation and update.
type draftRequest struct{ Title, Body string }

func (d *draftRequest) fields() map[string]any {
	return map[string]any{"title": &d.Title, "body": &d.Body}
}

// notesResponse answers a listing: a page of notes and the cursor of the
// next page (null on the last).
type notesResponse struct {
	Notes      []notes.Note `json:"notes"`
	NextCursor *string      `json:"next_cursor"`
}

// apiListNotes lists a page of the user's notes newest first, or searches
// them; ?cursor= continues from an earlier page.
func (a *App) apiListNotes(w http.ResponseWriter, r *http.Request) {
	l, err := listParams(r.URL.Query())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.notebook.Search(r.Context(), storeOf(r), l.q, l.limit, l.cursor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	resp := notesResponse{Notes: page.Notes}
	if page.Next != "" {
		resp.NextCursor = &page.Next
	}
	writeJSON(w, http.StatusOK, resp)
}

// listing is what a request asks a listing for.
type listing struct {
	q      string
	limit  int    // notes.DefaultLimit unless given
	cursor string // "" for the first page
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

// apiCreateNote stores a new note.
func (a *App) apiCreateNote(w http.ResponseWriter, r *http.Request) {
	var in draftRequest
	if err := decodeJSON(r.Body, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.notebook.Create(r.Context(), storeOf(r), notes.Draft{Title: in.Title, Body: in.Body})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/notes/"+strconv.FormatInt(n.ID, 10))
	writeJSON(w, http.StatusCreated, n)
}

// apiGetNote returns one note.
func (a *App) apiGetNote(w http.ResponseWriter, r *http.Request) {
	n, err := a.noteOf(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

// apiUpdateNote replaces a note's title and body.
func (a *App) apiUpdateNote(w http.ResponseWriter, r *http.Request) {
	id, err := noteID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in draftRequest
	if err := decodeJSON(r.Body, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.notebook.Update(r.Context(), storeOf(r), id, notes.Draft{Title: in.Title, Body: in.Body})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

// apiDeleteNote deletes a note.
func (a *App) apiDeleteNote(w http.ResponseWriter, r *http.Request) {
	id, err := noteID(r)
	if err == nil {
		err = a.notebook.Delete(r.Context(), storeOf(r), id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// noteOf returns the signed-in user's note that the route's :id names.
func (a *App) noteOf(r *http.Request) (notes.Note, error) {
	id, err := noteID(r)
	if err != nil {
		return notes.Note{}, err
	}
	return a.notebook.Get(r.Context(), storeOf(r), id)
}

// noteID reads the :id of the route: a positive decimal number, or the note
// does not exist.
func noteID(r *http.Request) (int64, error) {
	s := httprouter.ParamsFromContext(r.Context()).ByName("id")
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
