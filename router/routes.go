package router

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// routes registers every route of routeTable on an httprouter, with the
// answers for unknown paths and methods.
func (a *App) routes() http.Handler {
	r := httprouter.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleOPTIONS = false
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.fail(w, r, errNotFound) })
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, errMethodNotAllowed)
	})
	for _, rt := range a.routeTable() {
		handle(r, rt.method, rt.path, rt.h, rt.mws...)
	}
	return r
}

// route is one entry of the route table.
type route struct {
	method, path string
	h            http.HandlerFunc
	mws          []middleware
}

// routeTable lists every route. Each route names the middleware it needs
// beyond the global ones (see middleware): withSession loads the session
// cookie, requireUser also acquires the signed-in user's store for the
// request, and requireSession only insists on a signed-in session.
//
// httprouter v1.3 refuses a static path segment beside a parameter, so the
// HTML note actions live below the id (/notes/:id/edit) and nothing static
// sits beside :id.
func (a *App) routeTable() []route {
	session := []middleware{a.withSession}
	user := []middleware{a.withSession, a.requireUser}
	signedIn := []middleware{a.withSession, a.requireSession}
	return []route{
		// Operations.
		{"GET", "/healthz", a.healthz, nil},
		{"GET", "/readyz", a.readyz, nil},
		{"GET", "/static/*filepath", a.static(), nil},

		// JSON API.
		{"POST", "/api/v1/signup", a.apiSignup, session},
		{"POST", "/api/v1/login", a.apiLogin, session},
		{"POST", "/api/v1/logout", a.apiLogout, session},
		{"GET", "/api/v1/me", a.apiMe, user},
		{"GET", "/api/v1/notes", a.apiListNotes, user},
		{"POST", "/api/v1/notes", a.apiCreateNote, user},
		{"GET", "/api/v1/notes/:id", a.apiGetNote, user},
		{"PUT", "/api/v1/notes/:id", a.apiUpdateNote, user},
		{"DELETE", "/api/v1/notes/:id", a.apiDeleteNote, user},
		{"GET", "/api/v1/export", a.export, signedIn},
		{"DELETE", "/api/v1/account", a.apiDeleteAccount, signedIn},
		{"GET", "/api/v1/openapi.json", a.openAPI(), nil},

		// HTML app.
		{"GET", "/", a.landing, session},
		{"GET", "/signup", a.signupForm, session},
		{"POST", "/signup", a.htmlSignup, session},
		{"GET", "/login", a.loginForm, session},
		{"POST", "/login", a.htmlLogin, session},
		{"POST", "/logout", a.htmlLogout, session},
		{"GET", "/notes", a.notesPage, user},
		{"POST", "/notes", a.htmlCreateNote, user},
		{"GET", "/notes/:id/edit", a.editNotePage, user},
		{"POST", "/notes/:id/update", a.htmlUpdateNote, user},
		{"POST", "/notes/:id/delete", a.htmlDeleteNote, user},
		{"GET", "/account", a.accountPage, user},
		{"GET", "/account/export", a.export, signedIn},
		{"POST", "/account/delete", a.htmlDeleteAccount, signedIn},
	}
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
	// The route's pattern and parameters go in the requestInfo, not in a
	// new context as httprouter.Router.Handler would put them: that would
	// copy the request on every request with a parameter.
	route := func(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
		info := infoOf(req)
		info.route, info.params = path, ps
		next.ServeHTTP(w, req)
	}
	r.Handle(method, path, route)
	if method == http.MethodGet {
		r.Handle(http.MethodHead, path, route)
	}
}
