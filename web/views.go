package web

import (
	"time"

	"github.com/cubbyhq/cubby/notes"
)

// The pages Render knows, each a file in templates/.
const (
	PageLanding = "landing" // data: Landing
	PageSignup  = "signup"  // data: Credentials
	PageLogin   = "login"   // data: Credentials
	PageNotes   = "notes"   // data: NoteList
	PageEdit    = "edit"    // data: NoteEdit
	PageAccount = "account" // data: Account
	PageError   = "error"   // data: Problem
)

// Frame is what every page shows around its content.
type Frame struct {
	Title string // the page's name, in the tab
	User  string // the signed-in username, or "" when signed out
}

// Landing is the front page for signed-out visitors.
type Landing struct {
	Frame
	SignupOpen bool
}

// Credentials is the signup or login form: the username as typed, an error
// beside each field that has one, and an error for the form as a whole.
type Credentials struct {
	Frame
	Username    string
	FieldErrors map[string]string // "username" or "password" → message
	Error       string
	Closed      bool // signup is closed: show no form
}

// NoteForm is a note being written: the input kept and an error beside each
// field that has one.
type NoteForm struct {
	Title, Body string
	FieldErrors map[string]string // "title" or "body" → message
}

// NoteList is the notes page: search, one page of the list and the form
// for a new note.
type NoteList struct {
	Frame
	Query      string
	QueryError string
	Notes      []notes.Note
	Continued  bool   // this page follows an earlier one
	Older      string // the URL of the next page, "" on the last
	New        NoteForm
}

// NoteEdit is the page that changes one note.
type NoteEdit struct {
	Frame
	ID   int64
	Form NoteForm
}

// Account is the account page: usage, export and deletion.
type Account struct {
	Frame
	CreatedAt     time.Time
	SizeBytes     int64
	NoteCount     int
	SchemaVersion int
	DeleteError   string
}

// Problem is an error page.
type Problem struct {
	Frame
	Status  int
	Message string
}
