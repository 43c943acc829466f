package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"cubby/auth"
	"cubby/tenant"
)

// credentialsRequest is the body of signup and login.
type credentialsRequest struct{ Username, Password string }

func (c *credentialsRequest) fields() map[string]any {
	return map[string]any{"username": &c.Username, "password": &c.Password}
}

// passwordRequest is the body of account deletion.
type passwordRequest struct{ Password string }

func (p *passwordRequest) fields() map[string]any {
	return map[string]any{"password": &p.Password}
}

// usernameResponse answers signup and login.
type usernameResponse struct {
	Username string `json:"username"`
}

// apiSignup creates an account and signs the new user in.
func (a *App) apiSignup(w http.ResponseWriter, r *http.Request) {
	var in credentialsRequest
	if err := decodeJSON(r.Body, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	t, err := a.accounts.Signup(r.Context(), in.Username, in.Password)
	if err == nil {
		err = a.sessions.SignIn(r.Context(), t.ID)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	infoOf(r).tenant = t.ID
	writeJSON(w, http.StatusCreated, usernameResponse{t.Username})
}

// apiLogin signs a user in under a new session token.
func (a *App) apiLogin(w http.ResponseWriter, r *http.Request) {
	var in credentialsRequest
	if err := decodeJSON(r.Body, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	t, err := a.accounts.Login(r.Context(), in.Username, in.Password, clientAddr(r))
	if err == nil {
		err = a.sessions.SignIn(r.Context(), t.ID)
	}
	a.metrics.observeLogin(err)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	infoOf(r).tenant = t.ID
	writeJSON(w, http.StatusOK, usernameResponse{t.Username})
}

// apiLogout ends the session, if there is one.
func (a *App) apiLogout(w http.ResponseWriter, r *http.Request) {
	if err := a.sessions.SignOut(r.Context()); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiMe describes the signed-in account.
func (a *App) apiMe(w http.ResponseWriter, r *http.Request) {
	p, err := a.accounts.Profile(r.Context(), storeOf(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// apiDeleteAccount deletes the signed-in account after checking its password.
func (a *App) apiDeleteAccount(w http.ResponseWriter, r *http.Request) {
	var in passwordRequest
	if err := decodeJSON(r.Body, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.deleteAccount(r, in.Password); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// accountDeleteTimeout is how long deleting an account may wait for the
// account's other requests to let go of its file before it gives up,
// leaving the account as it was, and answers 503 busy.
const accountDeleteTimeout = 10 * time.Second

// deleteAccount deletes the account of r's session and ends the session.
func (a *App) deleteAccount(r *http.Request, password string) error {
	ctx, cancel := context.WithTimeout(r.Context(), a.deleteTimeout)
	defer cancel()
	err := a.accounts.Delete(ctx, infoOf(r).tenant, password, clientAddr(r))
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", tenant.ErrBusy, err)
	}
	if err != nil {
		return a.endDeadSession(r, err)
	}
	return a.sessions.SignOut(r.Context())
}

// export streams a scrubbed copy of the signed-in user's database file.
func (a *App) export(w http.ResponseWriter, r *http.Request) {
	s := storeOf(r)
	name, err := auth.Username(r.Context(), s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f, err := a.pool.Export(r.Context(), s.TenantID(), auth.ScrubExport)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		a.fail(w, r, fmt.Errorf("stat export: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/vnd.sqlite3")
	h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{
		"filename": "cubby-" + name + "-" + time.Now().UTC().Format("20060102") + ".sqlite",
	}))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		a.log.WarnContext(r.Context(), "export cut short", "tenant", s.TenantID(), "err", err)
	}
}
