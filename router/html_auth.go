package router

import (
	"net/http"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/web"
)

// landing shows the front page, or sends a signed-in user to their notes.
func (a *App) landing(w http.ResponseWriter, r *http.Request) {
	if a.hasSession(r) {
		http.Redirect(w, r, "/notes", http.StatusSeeOther)
		return
	}
	a.render(w, r, http.StatusOK, web.PageLanding, web.Landing{
		Frame: web.Frame{Title: "Welcome"}, SignupOpen: a.accounts.SignupOpen(),
	})
}

// signupForm shows the signup form (403 with a notice when signup is closed).
func (a *App) signupForm(w http.ResponseWriter, r *http.Request) {
	if a.hasSession(r) {
		http.Redirect(w, r, "/notes", http.StatusSeeOther)
		return
	}
	view := web.Credentials{Frame: web.Frame{Title: "Sign up"}}
	status := http.StatusOK
	if !a.accounts.SignupOpen() {
		f := classify(auth.ErrSignupClosed)
		status, view.Error, view.Closed = httpStatus(f.code), f.message, true
	}
	a.render(w, r, status, web.PageSignup, view)
}

// htmlSignup creates an account from the form and signs the user in.
func (a *App) htmlSignup(w http.ResponseWriter, r *http.Request) {
	if _, err := a.signUp(w, r, formCredentials); err != nil {
		a.credentialsError(w, r, web.PageSignup, "Sign up", err)
		return
	}
	http.Redirect(w, r, "/notes", http.StatusSeeOther)
}

// loginForm shows the login form.
func (a *App) loginForm(w http.ResponseWriter, r *http.Request) {
	if a.hasSession(r) {
		http.Redirect(w, r, "/notes", http.StatusSeeOther)
		return
	}
	a.render(w, r, http.StatusOK, web.PageLogin, web.Credentials{Frame: web.Frame{Title: "Log in"}})
}

// htmlLogin signs a user in from the form.
func (a *App) htmlLogin(w http.ResponseWriter, r *http.Request) {
	if _, err := a.logIn(w, r, formCredentials); err != nil {
		a.credentialsError(w, r, web.PageLogin, "Log in", err)
		return
	}
	http.Redirect(w, r, "/notes", http.StatusSeeOther)
}

// htmlLogout ends the session and goes back to the front page.
func (a *App) htmlLogout(w http.ResponseWriter, r *http.Request) {
	if err := a.sessions.SignOut(r.Context()); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// credentialsError re-renders a signup or login form with the posted
// username kept (never the password) and err beside the field it concerns.
// Errors that no form can show go to fail.
func (a *App) credentialsError(w http.ResponseWriter, r *http.Request, page, title string, err error) {
	f := classify(err)
	view := web.Credentials{Frame: web.Frame{Title: title}, Username: r.PostForm.Get("username")}
	switch f.code {
	case codeInvalidUsername, codeUsernameTaken:
		view.FieldErrors = map[string]string{"username": f.message}
	case codeWeakPassword:
		view.FieldErrors = map[string]string{"password": f.message}
	case codeInvalidCredentials, codeTooManyAttempts:
		view.Error = f.message
	case codeSignupClosed:
		view.Error, view.Closed = f.message, true
	default:
		a.fail(w, r, err)
		return
	}
	setRetryAfter(w, f.retryAfter)
	a.render(w, r, httpStatus(f.code), page, view)
}

// frame is the page frame of a signed-in user, whose name it reads from
// their own file.
func (a *App) frame(r *http.Request, s *tenant.Store, title string) (web.Frame, error) {
	name, err := usernameOf(r, s)
	if err != nil {
		return web.Frame{}, err
	}
	return web.Frame{Title: title, User: name}, nil
}

// usernameOf reads the signed-in user's name from their store and keeps it
// for error pages.
func usernameOf(r *http.Request, s *tenant.Store) (string, error) {
	name, err := auth.Username(r.Context(), s)
	if err != nil {
		return "", err
	}
	infoOf(r).user = name
	return name, nil
}

// hasSession reports whether r's session is signed in (to a tenant that may
// since have gone: the page it is sent to finds out).
func (a *App) hasSession(r *http.Request) bool {
	_, err := a.signedIn(r)
	return err == nil
}
