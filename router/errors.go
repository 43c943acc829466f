package router

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"cubby/auth"
	"cubby/notes"
	"cubby/tenant"
	"cubby/web"
)

// Errors that only the HTTP side raises.
var (
	errUnauthenticated  = errors.New("sign in first")
	errForbidden        = errors.New("cross-origin requests are not allowed")
	errNotFound         = errors.New("not found")
	errMethodNotAllowed = errors.New("method not allowed")
)

// busyRetryAfter is the Retry-After of a 503 busy: long enough for a burst
// to pass, short enough that a person does not notice.
const busyRetryAfter = 2 * time.Second

// badRequestError is a request that could not be read (malformed JSON,
// unknown fields, bad parameters); its message says what was wrong.
type badRequestError struct{ msg string }

// Error says what was wrong with the request.
func (e *badRequestError) Error() string { return e.msg }

func badRequest(msg string) error { return &badRequestError{msg} }

// problem is how a failed request is answered.
type problem struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration
}

// classify maps every error to its status, code and message. It is the one
// place where errors become HTTP. Messages of 500s never carry the error's
// text, which may hold SQL or paths.
func classify(err error) problem {
	var (
		bad      *badRequestError
		tooLarge *http.MaxBytesError
		throttle *auth.ThrottledError
		query    *notes.QueryError
		invalid  *notes.ValidationError
	)
	switch {
	case errors.As(err, &tooLarge):
		return problem{status: 413, code: "too_large", message: "the request body is larger than 2 MiB"}
	case errors.As(err, &bad):
		return problem{status: 400, code: "bad_request", message: bad.msg}
	case errors.As(err, &query):
		return problem{status: 400, code: "bad_request", message: query.Message}
	case errors.Is(err, errUnauthenticated), errors.Is(err, tenant.ErrNotFound):
		return problem{status: 401, code: "unauthenticated", message: "sign in first"}
	case errors.Is(err, auth.ErrInvalidCredentials):
		return problem{status: 401, code: "invalid_credentials", message: auth.ErrInvalidCredentials.Error()}
	case errors.Is(err, auth.ErrSignupClosed):
		return problem{status: 403, code: "signup_closed", message: auth.ErrSignupClosed.Error()}
	case errors.Is(err, errForbidden):
		return problem{status: 403, code: "forbidden", message: errForbidden.Error()}
	case errors.Is(err, errNotFound), errors.Is(err, notes.ErrNotFound):
		return problem{status: 404, code: "not_found", message: "there is nothing here"}
	case errors.Is(err, errMethodNotAllowed):
		return problem{status: 405, code: "method_not_allowed", message: "that method is not allowed here"}
	case errors.Is(err, auth.ErrUsernameTaken):
		return problem{status: 409, code: "username_taken", message: auth.ErrUsernameTaken.Error()}
	case errors.Is(err, auth.ErrInvalidUsername):
		return problem{status: 422, code: "invalid_username", message: auth.ErrInvalidUsername.Error()}
	case errors.Is(err, auth.ErrWeakPassword):
		return problem{status: 422, code: "weak_password", message: auth.ErrWeakPassword.Error()}
	case errors.As(err, &invalid):
		return problem{status: 422, code: "invalid_note", message: invalid.Message}
	case errors.As(err, &throttle):
		return problem{status: 429, code: "too_many_attempts", message: throttle.Error(), retryAfter: throttle.RetryAfter}
	case errors.Is(err, tenant.ErrBusy), errors.Is(err, auth.ErrBusy):
		return problem{status: 503, code: "busy", message: "the server is busy; try again in a moment", retryAfter: busyRetryAfter}
	case errors.Is(err, tenant.ErrUnavailable), errors.Is(err, tenant.ErrClosed):
		return problem{status: 503, code: "tenant_unavailable", message: "your data cannot be reached right now; try again later"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem{status: 503, code: "unavailable", message: "the request was cancelled"}
	}
	return problem{status: 500, code: "internal", message: "something went wrong on our side"}
}

// errorBody is the JSON of every API error.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// fail answers a request with err, in the client's format: JSON under
// /api/, HTML elsewhere (where a missing session is a redirect to /login).
// Internal errors are logged here and nowhere else.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := classify(err)
	if p.status >= 500 {
		// A 500 is a bug; a 503 is a known condition (a broken tenant file,
		// shutting down) that repeats on every request until an operator
		// acts, so it is a warning.
		level := slog.LevelError
		if p.status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		a.log.Log(r.Context(), level, "request failed", "method", r.Method, "route", infoOf(r).route,
			"tenant", infoOf(r).tenant, "status", p.status, "err", err)
	}
	setRetryAfter(w, p.retryAfter)
	if isAPI(r) {
		var body errorBody
		body.Error.Code, body.Error.Message = p.code, p.message
		writeJSON(w, p.status, body)
		return
	}
	if p.status == http.StatusUnauthorized {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if s, ok := r.Context().Value(storeKey).(*tenant.Store); ok && infoOf(r).user == "" {
		usernameOf(r, s) //nolint:errcheck // the page shows no name then
	}
	a.render(w, r, p.status, web.PageError, web.Problem{
		Frame: web.Frame{Title: http.StatusText(p.status), User: infoOf(r).user}, Status: p.status, Message: p.message,
	})
}

// render writes an HTML page; if the template fails, it answers 500.
func (a *App) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	if err := a.pages.Render(w, status, page, data); err != nil {
		a.log.ErrorContext(r.Context(), "render page", "page", page, "err", err)
		http.Error(w, "something went wrong on our side", http.StatusInternalServerError)
	}
}
