package main

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cubbyhq/cubby/tenant"
)

//go:embed schema.sql
var schemaSQL string

// userHeader names the user of a request. The app trusts it, so it must sit
// behind a proxy that authenticates people and sets it (cubby itself shows
// real accounts and sessions); this example is about the data, not login.
const userHeader = "X-User"

// maxTitle is the longest title, in runes.
const maxTitle = 200

// validName is what a username may look like; checked as ASCII before it
// is lower-cased.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$`)

// Todo is one item of a user's list.
type Todo struct {
	ID        int64  `db:"id" json:"id"`
	Title     string `db:"title" json:"title"`
	Done      bool   `db:"done" json:"done"`
	CreatedAt string `db:"created_at" json:"created_at"`
}

// App serves every user's todo list from that user's own SQLite file.
type App struct {
	pool *tenant.Pool
	log  *slog.Logger
}

// Handler returns the app's routes.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /signup", a.signup)
	mux.HandleFunc("GET /todos", a.withStore(a.list))
	mux.HandleFunc("POST /todos", a.withStore(a.create))
	mux.HandleFunc("PATCH /todos/{id}", a.withStore(a.setDone))
	mux.HandleFunc("DELETE /todos/{id}", a.withStore(a.delete))
	return mux
}

// signup gives the user named in the header a file of their own.
func (a *App) signup(w http.ResponseWriter, r *http.Request) {
	name := r.Header.Get(userHeader)
	if !validName.MatchString(name) {
		fail(w, http.StatusUnprocessableEntity, "a username is 3-32 letters, digits, _ or -")
		return
	}
	t, err := a.pool.Provision(r.Context(), strings.ToLower(name), nil)
	if errors.Is(err, tenant.ErrExists) {
		fail(w, http.StatusConflict, "that username is taken")
		return
	}
	if err != nil {
		a.serverError(w, err)
		return
	}
	reply(w, http.StatusCreated, map[string]string{"username": t.Username})
}

// withStore runs h with the store of the user named in the header, and
// releases it when h returns.
func (a *App) withStore(h func(http.ResponseWriter, *http.Request, *tenant.Store)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := a.pool.Routing().Lookup(r.Context(), r.Header.Get(userHeader))
		if errors.Is(err, tenant.ErrNotFound) {
			fail(w, http.StatusUnauthorized, "unknown user: sign up first")
			return
		}
		if err != nil {
			a.serverError(w, err)
			return
		}
		s, release, err := a.pool.Acquire(r.Context(), t.ID)
		if err != nil {
			a.serverError(w, err)
			return
		}
		defer release()
		h(w, r, s)
	}
}

func (a *App) list(w http.ResponseWriter, r *http.Request, s *tenant.Store) {
	todos := []Todo{}
	if err := s.SelectContext(r.Context(), &todos, "SELECT id, title, done, created_at FROM todos ORDER BY id"); err != nil {
		a.serverError(w, err)
		return
	}
	reply(w, http.StatusOK, todos)
}

func (a *App) create(w http.ResponseWriter, r *http.Request, s *tenant.Store) {
	var in struct{ Title string }
	if !decode(w, r, &in) {
		return
	}
	if msg := checkTitle(in.Title); msg != "" {
		fail(w, http.StatusUnprocessableEntity, msg)
		return
	}
	var t Todo
	err := s.GetContext(r.Context(), &t, "INSERT INTO todos (title, created_at) VALUES (?, ?) RETURNING id, title, done, created_at",
		in.Title, time.Now().UTC().Format(time.RFC3339))
	if err != nil {
		a.serverError(w, err)
		return
	}
	reply(w, http.StatusCreated, t)
}

func (a *App) setDone(w http.ResponseWriter, r *http.Request, s *tenant.Store) {
	var in struct{ Done *bool }
	if !decode(w, r, &in) {
		return
	}
	if in.Done == nil {
		fail(w, http.StatusBadRequest, `the body must be {"done": true|false}`)
		return
	}
	var t Todo
	err := s.GetContext(r.Context(), &t, "UPDATE todos SET done = ? WHERE id = ? RETURNING id, title, done, created_at",
		*in.Done, todoID(r))
	a.replyOne(w, t, err)
}

func (a *App) delete(w http.ResponseWriter, r *http.Request, s *tenant.Store) {
	var id int64
	err := s.GetContext(r.Context(), &id, "DELETE FROM todos WHERE id = ? RETURNING id", todoID(r))
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a.replyOne(w, Todo{}, err)
}

// replyOne answers with t, or 404 when the statement found no row.
func (a *App) replyOne(w http.ResponseWriter, t Todo, err error) {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		fail(w, http.StatusNotFound, "no such todo")
	case err != nil:
		a.serverError(w, err)
	default:
		reply(w, http.StatusOK, t)
	}
}

// todoID is the id in the path; one that is not a number matches no todo.
func todoID(r *http.Request) int64 {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return -1
	}
	return id
}

// checkTitle says what is wrong with a title, or "" if nothing is.
func checkTitle(s string) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "a todo needs a title"
	case utf8.RuneCountInString(s) > maxTitle:
		return "a title is at most " + strconv.Itoa(maxTitle) + " characters"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "a title may not hold control characters"
	}
	return ""
}

// decode reads one JSON object of known fields into v, answering 400 (or
// 413) itself when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("trailing data")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(w, http.StatusRequestEntityTooLarge, "the body is too large")
	case err != nil:
		fail(w, http.StatusBadRequest, "the body is not a valid JSON request: "+err.Error())
	}
	return err == nil
}

// serverError answers for an error from the store: 503 when the user's
// file cannot be served now, else 500.
func (a *App) serverError(w http.ResponseWriter, err error) {
	if errors.Is(err, tenant.ErrBusy) || errors.Is(err, tenant.ErrUnavailable) || errors.Is(err, context.Canceled) {
		fail(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	a.log.Error("todo: request failed", "err", err)
	fail(w, http.StatusInternalServerError, "internal error")
}

func fail(w http.ResponseWriter, status int, msg string) {
	reply(w, status, map[string]string{"error": msg})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}
