package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
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
	t, err := a.signUp(w, r, in.Username, in.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, usernameResponse{t.Username})
}

// apiLogin signs a user in under a new session token.
func (a *App) apiLogin(w http.ResponseWriter, r *http.Request) {
	var in credentialsRequest
	if err := decodeJSON(r.Body, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	t, err := a.logIn(w, r, in.Username, in.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
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
	err := a.accounts.Delete(ctx, infoOf(r).tenant, password, infoOf(r).client)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", tenant.ErrBusy, err)
	}
	if err != nil {
		return a.endDeadSession(r, err)
	}
	return a.sessions.SignOut(r.Context())
}

// export streams a scrubbed copy of the signed-in user's database file. The
// user's handle is held only while the snapshot is taken; the copy, an
// unlinked temp file, is streamed after, with a write deadline that grows
// with its size, so a slow client neither holds the handle nor stalls
// forever.
func (a *App) export(w http.ResponseWriter, r *http.Request) {
	name, f, err := a.snapshot(r)
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
	infoOf(r).writeExtra = time.Duration(fi.Size()/exportMinRate+1) * time.Second
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		a.log.WarnContext(r.Context(), "export cut short", "tenant", infoOf(r).tenant, "err", err)
	}
}

// exportMinRate is the slowest download, in bytes per second, an export
// waits for before its write deadline cuts it off.
const exportMinRate = 64 << 10

// snapshot returns the signed-in user's name and a scrubbed copy of their
// file, holding their handle only while it takes them.
func (a *App) snapshot(r *http.Request) (string, *os.File, error) {
	id := infoOf(r).tenant
	s, release, err := a.pool.Acquire(r.Context(), id)
	if err != nil {
		return "", nil, a.endDeadSession(r, err)
	}
	defer release()
	name, err := auth.Username(r.Context(), s)
	if err != nil {
		return "", nil, err
	}
	f, err := a.pool.Export(r.Context(), id, auth.ScrubExport)
	if err != nil {
		return "", nil, err
	}
	return name, f, nil
}
