package router

import (
	"net/http"

	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/web"
)

// accountPage shows usage, the export link and the delete form.
func (a *App) accountPage(w http.ResponseWriter, r *http.Request) {
	a.showAccount(w, r, storeOf(r), http.StatusOK, "")
}

// showAccount renders the account page of the user whose store s is, with
// deleteErr beside the delete form's password field.
func (a *App) showAccount(w http.ResponseWriter, r *http.Request, s *tenant.Store, status int, deleteErr string) {
	frame, err := a.frame(r, s, "Account")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.accounts.Profile(r.Context(), s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	count, err := a.notebook.Count(r.Context(), s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, status, web.PageAccount, web.Account{
		Frame: frame, CreatedAt: p.CreatedAt, SizeBytes: p.SizeBytes, NoteCount: count,
		SchemaVersion: p.SchemaVersion, DeleteError: deleteErr,
	})
}

// htmlDeleteAccount deletes the account once the password checks out, then
// goes to the front page. A wrong password shows the account page again.
func (a *App) htmlDeleteAccount(w http.ResponseWriter, r *http.Request) {
	err := a.deleteAccount(r, formPassword)
	if err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	switch f := classify(err); f.code {
	case codeInvalidCredentials, codeTooManyAttempts:
		a.showAccountAgain(w, r, f)
	default:
		a.fail(w, r, err)
	}
}

// showAccountAgain shows the account page with f beside the delete form.
// The deletion's route holds no store (deleting waits for every holder to
// let go), so the page gets one of its own.
func (a *App) showAccountAgain(w http.ResponseWriter, r *http.Request, f failure) {
	a.serveWithStore(w, r, infoOf(r).tenant, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRetryAfter(w, f.retryAfter)
		a.showAccount(w, r, storeOf(r), httpStatus(f.code), f.message)
	}))
}
