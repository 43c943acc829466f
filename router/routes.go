package router

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// routes lists every route. Each route names the middleware it needs beyond
// the global ones (see middleware): withSession loads the session cookie,
// requireUser also acquires the signed-in user's store for the request, and
// requireSession only insists on a signed-in session.
//
// httprouter v1.3 refuses a static path segment beside a parameter, so the
// HTML note actions live below the id (/notes/:id/edit) and nothing static
// sits beside :id.
func (a *App) routes() http.Handler {
	r := httprouter.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleOPTIONS = false
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.fail(w, r, errNotFound) })
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, errMethodNotAllowed)
	})
	session := []middleware{a.withSession}
	user := []middleware{a.withSession, a.requireUser}
	signedIn := []middleware{a.withSession, a.requireSession}

	// Operations.
	handle(r, "GET", "/healthz", a.healthz)
	handle(r, "GET", "/readyz", a.readyz)
	handle(r, "GET", "/static/*filepath", a.static())

	// JSON API.
	handle(r, "POST", "/api/v1/signup", a.apiSignup, session...)
	handle(r, "POST", "/api/v1/login", a.apiLogin, session...)
	handle(r, "POST", "/api/v1/logout", a.apiLogout, session...)
	handle(r, "GET", "/api/v1/me", a.apiMe, user...)
	handle(r, "GET", "/api/v1/notes", a.apiListNotes, user...)
	handle(r, "POST", "/api/v1/notes", a.apiCreateNote, user...)
	handle(r, "GET", "/api/v1/notes/:id", a.apiGetNote, user...)
	handle(r, "PUT", "/api/v1/notes/:id", a.apiUpdateNote, user...)
	handle(r, "DELETE", "/api/v1/notes/:id", a.apiDeleteNote, user...)
	handle(r, "GET", "/api/v1/export", a.export, user...)
	handle(r, "DELETE", "/api/v1/account", a.apiDeleteAccount, signedIn...)

	// HTML app.
	handle(r, "GET", "/", a.landing, session...)
	handle(r, "GET", "/signup", a.signupForm, session...)
	handle(r, "POST", "/signup", a.signup, session...)
	handle(r, "GET", "/login", a.loginForm, session...)
	handle(r, "POST", "/login", a.login, session...)
	handle(r, "POST", "/logout", a.logout, session...)
	handle(r, "GET", "/notes", a.notesPage, user...)
	handle(r, "POST", "/notes", a.createNote, user...)
	handle(r, "GET", "/notes/:id/edit", a.editNotePage, user...)
	handle(r, "POST", "/notes/:id/update", a.updateNote, user...)
	handle(r, "POST", "/notes/:id/delete", a.deleteNote, user...)
	handle(r, "GET", "/account", a.accountPage, user...)
	handle(r, "GET", "/account/export", a.export, user...)
	handle(r, "POST", "/account/delete", a.deleteAccountForm, signedIn...)
	return r
}

// middleware wraps a handler.
type middleware func(http.Handler) http.Handler

// handle registers h for method and path behind mws (the first outermost),
// and records path as the request's route for the request log. A GET
// route answers HEAD too (net/http drops the body).
func handle(r *httprouter.Router, method, path string, h http.HandlerFunc, mws ...middleware) {
	var next http.Handler = h
	for i := len(mws) - 1; i >= 0; i-- {
		next = mws[i](next)
	}
	route := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		infoOf(req).route = path
		next.ServeHTTP(w, req)
	})
	r.Handler(method, path, route)
	if method == http.MethodGet {
		r.Handler(http.MethodHead, path, route)
	}
}
