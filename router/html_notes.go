package router

import (
	"errors"
	"net/http"
	"net/url"

	"cubby/notes"
	"cubby/web"
)

// notesPage shows the user's notes (or the ones matching ?q=), the search box
// and the form for a new note.
func (a *App) notesPage(w http.ResponseWriter, r *http.Request) {
	a.showNotes(w, r, http.StatusOK, web.NoteForm{})
}

// showNotes renders the notes page with status and the new-note form as
// given. A bad search is shown beside the search box with 400.
func (a *App) showNotes(w http.ResponseWriter, r *http.Request, status int, form web.NoteForm) {
	s := storeOf(r)
	frame, err := a.frame(r, s, "Notes")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	view := web.NoteList{Frame: frame, New: form, Query: r.URL.Query().Get("q")}
	l, err := listParams(r.URL.Query())
	if err == nil {
		view.Continued = l.cursor != ""
		var page notes.Page
		page, err = a.notebook.Search(r.Context(), s, l.q, l.limit, l.cursor)
		view.Notes, view.Older = page.Notes, olderURL(r.URL.Query(), page.Next)
	}
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

// createNote stores a note from the form; invalid input is shown again
// with its errors.
func (a *App) createNote(w http.ResponseWriter, r *http.Request) {
	d, err := draftForm(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := a.notebook.Create(r.Context(), storeOf(r), d); err != nil {
		form, ok := noteFormError(d, err)
		if !ok {
			a.fail(w, r, err)
			return
		}
		a.showNotes(w, r, httpStatus(classify(err).code), form)
		return
	}
	http.Redirect(w, r, "/notes", http.StatusSeeOther)
}

// editNotePage shows the form that changes one note.
func (a *App) editNotePage(w http.ResponseWriter, r *http.Request) {
	n, err := a.noteOf(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.showEdit(w, r, http.StatusOK, n.ID, web.NoteForm{Title: n.Title, Body: n.Body})
}

func (a *App) showEdit(w http.ResponseWriter, r *http.Request, status int, id int64, form web.NoteForm) {
	frame, err := a.frame(r, storeOf(r), "Edit note")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, status, web.PageEdit, web.NoteEdit{Frame: frame, ID: id, Form: form})
}

// updateNote saves the edit form.
func (a *App) updateNote(w http.ResponseWriter, r *http.Request) {
	id, err := noteID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := draftForm(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := a.notebook.Update(r.Context(), storeOf(r), id, d); err != nil {
		form, ok := noteFormError(d, err)
		if !ok {
			a.fail(w, r, err)
			return
		}
		a.showEdit(w, r, httpStatus(classify(err).code), id, form)
		return
	}
	http.Redirect(w, r, "/notes", http.StatusSeeOther)
}

// deleteNote deletes a note and goes back to the list.
func (a *App) deleteNote(w http.ResponseWriter, r *http.Request) {
	id, err := noteID(r)
	if err == nil {
		err = a.notebook.Delete(r.Context(), storeOf(r), id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/notes", http.StatusSeeOther)
}

// draftForm reads the title and body fields of a posted form.
func draftForm(r *http.Request) (notes.Draft, error) {
	if err := parseForm(r); err != nil {
		return notes.Draft{}, err
	}
	return notes.Draft{Title: r.PostForm.Get("title"), Body: r.PostForm.Get("body")}, nil
}

// noteFormError is the form to show again when err says d is invalid.
func noteFormError(d notes.Draft, err error) (web.NoteForm, bool) {
	var invalid *notes.ValidationError
	if !errors.As(err, &invalid) {
		return web.NoteForm{}, false
	}
	return web.NoteForm{Title: d.Title, Body: d.Body, FieldErrors: map[string]string{
		invalid.Field: classify(err).message,
	}}, true
}
