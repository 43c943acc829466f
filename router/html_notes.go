package router

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/cubbyhq/cubby/notes"
	"github.com/cubbyhq/cubby/web"
)

// The HTML side of notes: each handler calls its flow (notes_flow.go) and
// renders a page, or goes back to the list.

// notesPage shows the user's notes (or the ones matching ?q=), the search box
// and the form for a new note.
func (a *App) notesPage(w http.ResponseWriter, r *http.Request) {
	a.showNotes(w, r, http.StatusOK, web.NoteForm{})
}

// showNotes renders the notes page with status and the new-note form as
// given. A bad search is shown beside the search box with 400.
func (a *App) showNotes(w http.ResponseWriter, r *http.Request, status int, form web.NoteForm) {
	frame, err := a.frame(r, storeOf(r), "Notes")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	view := web.NoteList{Frame: frame, New: form, Query: r.URL.Query().Get("q")}
	l, page, err := a.listNotes(r)
	view.Continued = l.cursor != ""
	view.Notes, view.Older = page.Notes, olderURL(r.URL.Query(), page.Next)
	if err != nil {
		f := classify(err)
		if f.code != codeBadRequest {
			a.fail(w, r, err)
			return
		}
		status, view.QueryError = httpStatus(f.code), f.message
	}
	a.render(w, r, status, web.PageNotes, view)
}

// olderURL is the link to the page after this one, keeping the search and
// the limit, or "" on the last page.
func olderURL(v url.Values, next string) string {
	if next == "" {
		return ""
	}
	older := url.Values{"cursor": {next}}
	for _, k := range []string{"q", "limit"} {
		if v.Has(k) {
			older.Set(k, v.Get(k))
		}
	}
	return "/notes?" + older.Encode()
}

// htmlCreateNote stores a note from the form; invalid input is shown again
// with its errors.
func (a *App) htmlCreateNote(w http.ResponseWriter, r *http.Request) {
	if _, err := a.createNote(r, formDraft); err != nil {
		form, ok := invalidNoteForm(r, err)
		if !ok {
			a.fail(w, r, err)
			return
		}
		a.showNotes(w, r, httpStatus(codeInvalidNote), form)
		return
	}
	http.Redirect(w, r, "/notes", http.StatusSeeOther)
}

// editNotePage shows the form that changes one note.
func (a *App) editNotePage(w http.ResponseWriter, r *http.Request) {
	n, err := a.getNote(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.showEdit(w, r, http.StatusOK, n.ID, web.NoteForm{Title: n.Title, Body: n.Body})
}

// showEdit renders the edit page of note id with status and the form as
// given.
func (a *App) showEdit(w http.ResponseWriter, r *http.Request, status int, id int64, form web.NoteForm) {
	frame, err := a.frame(r, storeOf(r), "Edit note")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, status, web.PageEdit, web.NoteEdit{Frame: frame, ID: id, Form: form})
}

// htmlUpdateNote saves the edit form; invalid input is shown again with its
// errors.
func (a *App) htmlUpdateNote(w http.ResponseWriter, r *http.Request) {
	if _, err := a.updateNote(r, formDraft); err != nil {
		form, ok := invalidNoteForm(r, err)
		if !ok {
			a.fail(w, r, err)
			return
		}
		id, _ := noteID(r) // checked by updateNote before the form was read
		a.showEdit(w, r, httpStatus(codeInvalidNote), id, form)
		return
	}
	http.Redirect(w, r, "/notes", http.StatusSeeOther)
}

// htmlDeleteNote deletes a note and goes back to the list.
func (a *App) htmlDeleteNote(w http.ResponseWriter, r *http.Request) {
	if err := a.deleteNote(r); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/notes", http.StatusSeeOther)
}

// invalidNoteForm is the note form to show again when err says the posted
// title or body is invalid: the posted fields, with the message beside the
// field it concerns.
func invalidNoteForm(r *http.Request, err error) (web.NoteForm, bool) {
	var invalid *notes.ValidationError
	if !errors.As(err, &invalid) {
		return web.NoteForm{}, false
	}
	return web.NoteForm{Title: r.PostForm.Get("title"), Body: r.PostForm.Get("body"), FieldErrors: map[string]string{
		invalid.Field: classify(err).message,
	}}, true
}
