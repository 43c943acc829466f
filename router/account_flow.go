package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"cubby/tenant"
)

// The account deletion flow, shared by the JSON API (api_account.go) and the
// HTML form (html_account.go), which differ only in how they read the
// password (the read function they pass) and show the result.

// passwordReader reads the password that confirms an account's deletion:
// from a JSON body (jsonPassword) or a posted form (formPassword).
type passwordReader func(*http.Request) (string, error)

// accountDeleteTimeout is how long deleting an account may wait for the
// account's other requests to let go of its file before it gives up,
// leaving the account as it was, and answers 503 busy.
const accountDeleteTimeout = 10 * time.Second

// deleteAccount deletes the account of r's session, once the password read
// from r checks out, and ends the session.
func (a *App) deleteAccount(r *http.Request, read passwordReader) error {
	password, err := read(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.deleteTimeout)
	defer cancel()
	err = a.accounts.Delete(ctx, infoOf(r).tenant, password, infoOf(r).client)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", tenant.ErrBusy, err)
	}
	if err != nil {
		return a.endDeadSession(r, err)
	}
	return a.sessions.SignOut(r.Context())
}
