package router

import (
	"errors"
	"net/http"

	"github.com/cubbyhq/cubby/notes"
)

// How the HTML app reads its posted forms: the readers it hands to the
// flows. After one has run, r.PostForm holds the input, for a form shown
// again with its errors.

// formCredentials reads the username and password fields.
func formCredentials(r *http.Request) (username, password string, err error) {
	if err := parseForm(r); err != nil {
		return "", "", err
	}
	return r.PostForm.Get("username"), r.PostForm.Get("password"), nil
}

// formPassword reads the password field.
func formPassword(r *http.Request) (string, error) {
	if err := parseForm(r); err != nil {
		return "", err
	}
	return r.PostForm.Get("password"), nil
}

// formDraft reads the title and body fields.
func formDraft(r *http.Request) (notes.Draft, error) {
	if err := parseForm(r); err != nil {
		return notes.Draft{}, err
	}
	return notes.Draft{Title: r.PostForm.Get("title"), Body: r.PostForm.Get("body")}, nil
}

// parseForm parses a posted form; a body over the limit stays a
// *http.MaxBytesError, anything else unreadable is a bad request.
func parseForm(r *http.Request) error {
	err := r.ParseForm()
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return err
	}
	return badRequest("the form could not be read")
}
