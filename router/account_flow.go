package router

import "net/http"

// The account deletion flow, shared by the JSON API (api_account.go) and the
// HTML form (html_account.go), which differ only in how they read the
// password (the read function they pass) and show the result.

// passwordReader reads the password that confirms an account's deletion:
// from a JSON body (jsonPassword) or a posted form (formPassword).
type passwordReader func(*http.Request) (string, error)

// deleteAccount deletes the account of r's session, once the password read
// from r checks out, and ends the session.
func (a *App) deleteAccount(r *http.Request, read passwordReader) error {
	password, err := read(r)
	if err != nil {
		return err
	}
	// A deletion that waited too long for the account's other requests is
	// auth.ErrBusy: 503 busy, the account left as it was.
	err = a.accounts.Delete(r.Context(), infoOf(r).tenant, password, infoOf(r).client)
	if err != nil {
		return a.endDeadSession(r, err)
	}
	return a.sessions.SignOut(r.Context())
}
