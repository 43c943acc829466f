package router

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/notes"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/web"
)

// code says what kind of failure a request met. It is the "code" of the
// API's error body, and the HTML handlers choose how to show a failure by it.
type code string

// The codes of the HTTP contract (DESIGN.md).
const (
	codeBadRequest         code = "bad_request"
	codeUnauthenticated    code = "unauthenticated"
	codeInvalidCredentials code = "invalid_credentials"
	codeForbidden          code = "forbidden"
	codeSignupClosed       code = "signup_closed"
	codeNotFound           code = "not_found"
	codeMethodNotAllowed   code = "method_not_allowed"
	codeUsernameTaken      code = "username_taken"
	codeTooLarge           code = "too_large"
	codeInvalidUsername    code = "invalid_username"
	codeWeakPassword       code = "weak_password"
	codeInvalidNote        code = "invalid_note"
	codeTooManyAttempts    code = "too_many_attempts"
	codeBusy               code = "busy"
	codeTenantUnavailable  code = "tenant_unavailable"
	codeStorageFull        code = "storage_full"
	codeUnavailable        code = "unavailable"
	codeInternal           code = "internal"
)

// httpStatus is the status a code is answered with: the one place where a
// code becomes an HTTP status.
func httpStatus(c code) int {
	switch c {
	case codeBadRequest:
		return http.StatusBadRequest
	case codeUnauthenticated, codeInvalidCredentials:
		return http.StatusUnauthorized
	case codeForbidden, codeSignupClosed:
		return http.StatusForbidden
	case codeNotFound:
		return http.StatusNotFound
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case codeUsernameTaken:
		return http.StatusConflict
	case codeTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeInvalidUsername, codeWeakPassword, codeInvalidNote:
		return http.StatusUnprocessableEntity
	case codeTooManyAttempts:
		return http.StatusTooManyRequests
	case codeBusy, codeTenantUnavailable, codeStorageFull, codeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// failure is how a request that went wrong is answered: a code, a message
// for a person and, when trying again later can help, how long to wait.
// The router raises failures itself; classify turns every other error into
// one.
type failure struct {
	code       code
	message    string
	retryAfter time.Duration
}

// Error is the failure's message.
func (f *failure) Error() string { return f.message }

// busyRetryAfter is the Retry-After of a 503 busy: long enough for a burst
// to pass, short enough that a person does not notice.
const busyRetryAfter = 2 * time.Second

// storageFullRetryAfter is the Retry-After of a 503 storage_full: space
// comes back when an operator frees it, not in a moment.
const storageFullRetryAfter = 60 * time.Second

// The failures with a fixed message.
var (
	errUnauthenticated   = &failure{code: codeUnauthenticated, message: "sign in first"}
	errForbidden         = &failure{code: codeForbidden, message: "cross-origin requests are not allowed"}
	errNotFound          = &failure{code: codeNotFound, message: "there is nothing here"}
	errMethodNotAllowed  = &failure{code: codeMethodNotAllowed, message: "that method is not allowed here"}
	errTooLarge          = &failure{code: codeTooLarge, message: "the request body is larger than 2 MiB"}
	errBusy              = &failure{code: codeBusy, message: "the server is busy; try again in a moment", retryAfter: busyRetryAfter}
	errTenantUnavailable = &failure{code: codeTenantUnavailable, message: "your data cannot be reached right now; try again later"}
	errStorageFull       = &failure{code: codeStorageFull, message: "the server is out of storage space, so nothing was changed; try again later", retryAfter: storageFullRetryAfter}
	errCancelled         = &failure{code: codeUnavailable, message: "the request was cancelled"}
	errInternal          = &failure{code: codeInternal, message: "something went wrong on our side"}
)

// badRequest is a request that could not be read (malformed JSON, unknown
// fields, bad parameters); msg says what was wrong.
func badRequest(msg string) error { return &failure{code: codeBadRequest, message: msg} }

// classify maps every error to the failure it is answered with. It is the
// one place where the errors of auth, notes and tenant get their code and
// message. Internal failures never carry the error's text, which may hold
// SQL or paths.
func classify(err error) failure {
	var (
		f        *failure
		tooLarge *http.MaxBytesError
		throttle *auth.ThrottledError
		query    *notes.QueryError
		invalid  *notes.ValidationError
	)
	switch {
	case errors.As(err, &f): // raised by the router, coded already
	case errors.As(err, &tooLarge):
		f = errTooLarge
	case errors.As(err, &query):
		f = &failure{code: codeBadRequest, message: query.Message}
	case errors.Is(err, tenant.ErrNotFound):
		f = errUnauthenticated
	case errors.Is(err, auth.ErrInvalidCredentials):
		f = &failure{code: codeInvalidCredentials, message: auth.ErrInvalidCredentials.Error()}
	case errors.Is(err, auth.ErrSignupClosed):
		f = &failure{code: codeSignupClosed, message: auth.ErrSignupClosed.Error()}
	case errors.Is(err, notes.ErrNotFound):
		f = errNotFound
	case errors.Is(err, auth.ErrUsernameTaken):
		f = &failure{code: codeUsernameTaken, message: auth.ErrUsernameTaken.Error()}
	case errors.Is(err, auth.ErrInvalidUsername):
		f = &failure{code: codeInvalidUsername, message: auth.ErrInvalidUsername.Error()}
	case errors.Is(err, auth.ErrWeakPassword):
		f = &failure{code: codeWeakPassword, message: auth.ErrWeakPassword.Error()}
	case errors.As(err, &invalid):
		f = &failure{code: codeInvalidNote, message: invalid.Message}
	case errors.As(err, &throttle):
		f = &failure{code: codeTooManyAttempts, message: throttle.Error(), retryAfter: throttle.RetryAfter}
	case errors.Is(err, tenant.ErrBusy), errors.Is(err, auth.ErrBusy), errors.Is(err, auth.ErrUnavailable):
		f = errBusy
	case errors.Is(err, tenant.ErrFull):
		f = errStorageFull
	case errors.Is(err, tenant.ErrUnavailable), errors.Is(err, tenant.ErrClosed),
		errors.Is(err, tenant.ErrElsewhere): // another node's, and not forwarded
		f = errTenantUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		f = errCancelled
	default:
		f = errInternal
	}
	return *f
}

// errorBody is the JSON of every API error.
type errorBody struct {
	Error struct {
		Code    code   `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// fail answers a request with err, in the client's format: JSON under
// /api/, HTML elsewhere (where a missing session is a redirect to /login).
// Internal errors are logged here and nowhere else.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	if a.forwardElsewhere(w, r, err) {
		return
	}
	f := classify(err)
	status := httpStatus(f.code)
	if status >= 500 {
		// A 500 is a bug; a 503 is a known condition (a broken tenant file,
		// shutting down) that repeats on every request until an operator
		// acts, so it is a warning.
		level := slog.LevelError
		if status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		a.log.Log(r.Context(), level, "request failed", "method", r.Method, "route", infoOf(r).route,
			"tenant", infoOf(r).tenant, "status", status, "err", err)
	}
	setRetryAfter(w, f.retryAfter)
	if !isAPI(r) {
		a.failPage(w, r, status, f.message)
		return
	}
	var body errorBody
	body.Error.Code, body.Error.Message = f.code, f.message
	writeJSON(w, status, body)
}

// failPage answers a page request that failed with status: a redirect to
// /login when it needs a signed-in user, else the error page.
func (a *App) failPage(w http.ResponseWriter, r *http.Request, status int, message string) {
	if status == http.StatusUnauthorized {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if s := infoOf(r).store; s != nil && infoOf(r).user == "" {
		usernameOf(r, s) //nolint:errcheck // the page shows no name then
	}
	a.render(w, r, status, web.PageError, web.Problem{
		Frame: web.Frame{Title: http.StatusText(status), User: infoOf(r).user}, Status: status, Message: message,
	})
}

// setRetryAfter tells a client how many seconds to wait before trying
// again; zero says nothing.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	}
}

// render writes an HTML page; if the template fails, it answers 500.
func (a *App) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	if err := a.pages.Render(w, status, page, data); err != nil {
		a.log.ErrorContext(r.Context(), "render page", "page", page, "err", err)
		http.Error(w, "something went wrong on our side", http.StatusInternalServerError)
	}
}
