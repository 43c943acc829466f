package router

import (
	"net/http"

	"github.com/cubbyhq/cubby/tenant"
)

// The signup and login flows, shared by the JSON API (api_account.go) and
// the HTML forms (html_auth.go), which differ only in how they read the
// credentials (the read function they pass) and show the result.

// credentialsReader reads a username and password from a request: from a
// JSON body (jsonCredentials) or a posted form (formCredentials).
type credentialsReader func(*http.Request) (username, password string, err error)

// signUp makes an account for the client of r (whose address the signup
// limit counts), signs r's session in to it, and gives the client a device
// cookie for it.
func (a *App) signUp(w http.ResponseWriter, r *http.Request, read credentialsReader) (tenant.Tenant, error) {
	username, password, err := read(r)
	if err != nil {
		return tenant.Tenant{}, err
	}
	t, err := a.accounts.Signup(r.Context(), username, password, infoOf(r).client)
	if err != nil {
		return tenant.Tenant{}, err
	}
	return t, a.signIn(w, r, t)
}

// logIn checks the credentials, throttled by the client's address and by
// whether it holds a device cookie for the username, signs r's session in
// and gives the client a fresh device cookie.
func (a *App) logIn(w http.ResponseWriter, r *http.Request, read credentialsReader) (tenant.Tenant, error) {
	username, password, err := read(r)
	if err != nil {
		return tenant.Tenant{}, err
	}
	device := a.holdsDevice(r, username)
	t, err := a.accounts.Login(r.Context(), username, password, infoOf(r).client, device)
	if err == nil {
		err = a.signIn(w, r, t)
	}
	a.metrics.observeLogin(err)
	return t, err
}

// signIn makes r's session belong to t and sets t's device cookie.
func (a *App) signIn(w http.ResponseWriter, r *http.Request, t tenant.Tenant) error {
	if err := a.sessions.SignIn(r.Context(), t.ID); err != nil {
		return err
	}
	infoOf(r).tenant = t.ID
	a.devices.Set(w, t.Username)
	return nil
}

// holdsDevice reports whether the client of r holds a device cookie of the
// account now named username, not merely of its name: one issued to an
// earlier account of that name, deleted since, does not count (see
// auth.Devices.HoldsAccount). Only a client with a cookie this server
// signed for the name costs a look-up in routing.db.
func (a *App) holdsDevice(r *http.Request, username string) bool {
	if !a.devices.Holds(r, username) {
		return false
	}
	t, err := a.pool.Routing().Lookup(r.Context(), username)
	return err == nil && a.devices.HoldsAccount(r, t)
}
