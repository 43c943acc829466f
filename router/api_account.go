package router

import "net/http"

// The JSON side of signup, login and the account: each handler reads JSON,
// calls its flow (signin.go, account_flow.go) and answers in JSON.

// credentialsRequest is the body of signup and login.
type credentialsRequest struct{ Username, Password string }

func (c *credentialsRequest) fields() map[string]any {
	return map[string]any{"username": &c.Username, "password": &c.Password}
}

// jsonCredentials reads a credentialsRequest.
func jsonCredentials(r *http.Request) (username, password string, err error) {
	var in credentialsRequest
	if err := decodeJSON(r.Body, &in); err != nil {
		return "", "", err
	}
	return in.Username, in.Password, nil
}

// passwordRequest is the body of account deletion.
type passwordRequest struct{ Password string }

func (p *passwordRequest) fields() map[string]any {
	return map[string]any{"password": &p.Password}
}

// jsonPassword reads a passwordRequest.
func jsonPassword(r *http.Request) (string, error) {
	var in passwordRequest
	if err := decodeJSON(r.Body, &in); err != nil {
		return "", err
	}
	return in.Password, nil
}

// usernameResponse answers signup and login.
type usernameResponse struct {
	Username string `json:"username"`
}

// apiSignup creates an account and signs the new user in.
func (a *App) apiSignup(w http.ResponseWriter, r *http.Request) {
	t, err := a.signUp(w, r, jsonCredentials)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, usernameResponse{t.Username})
}

// apiLogin signs a user in under a new session token.
func (a *App) apiLogin(w http.ResponseWriter, r *http.Request) {
	t, err := a.logIn(w, r, jsonCredentials)
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
	if err := a.deleteAccount(r, jsonPassword); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
