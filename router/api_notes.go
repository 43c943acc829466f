package router

import (
	"net/http"
	"strconv"

	"github.com/cubbyhq/cubby/notes"
)

// The JSON side of notes: each handler calls its flow (notes_flow.go) and
// answers in JSON.

// draftRequest is the body of note creation and update.
type draftRequest struct{ Title, Body string }

func (d *draftRequest) fields() map[string]any {
	return map[string]any{"title": &d.Title, "body": &d.Body}
}

// jsonDraft reads a draftRequest.
func jsonDraft(r *http.Request) (notes.Draft, error) {
	var in draftRequest
	if err := decodeJSON(r.Body, &in); err != nil {
		return notes.Draft{}, err
	}
	return notes.Draft{Title: in.Title, Body: in.Body}, nil
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
	_, page, err := a.listNotes(r)
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

// apiCreateNote stores a new note.
func (a *App) apiCreateNote(w http.ResponseWriter, r *http.Request) {
	n, err := a.createNote(r, jsonDraft)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/notes/"+strconv.FormatInt(n.ID, 10))
	writeJSON(w, http.StatusCreated, n)
}

// apiGetNote returns one note.
func (a *App) apiGetNote(w http.ResponseWriter, r *http.Request) {
	n, err := a.getNote(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

// apiUpdateNote replaces a note's title and body.
func (a *App) apiUpdateNote(w http.ResponseWriter, r *http.Request) {
	n, err := a.updateNote(r, jsonDraft)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

// apiDeleteNote deletes a note.
func (a *App) apiDeleteNote(w http.ResponseWriter, r *http.Request) {
	if err := a.deleteNote(r); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
