package router

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/notes"
	"github.com/cubbyhq/cubby/tenant"
)

// Every error the packages below return, wrapped or not, is answered on the
// API with the status, body and Retry-After of the contract, to the byte.
func TestEveryErrorIsAnsweredWithTheContractsStatusCodeAndMessage(t *testing.T) {
	a := &App{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cases := []struct {
		err        error
		status     int
		body       string
		retryAfter string
	}{
		{&http.MaxBytesError{Limit: MaxBodyBytes}, 413, `{"error":{"code":"too_large","message":"the request body is larger than 2 MiB"}}`, ""},
		{fmt.Errorf("read: %w", badRequest("malformed JSON")), 400, `{"error":{"code":"bad_request","message":"malformed JSON"}}`, ""},
		{&notes.QueryError{Message: "bad query"}, 400, `{"error":{"code":"bad_request","message":"bad query"}}`, ""},
		{errUnauthenticated, 401, `{"error":{"code":"unauthenticated","message":"sign in first"}}`, ""},
		{fmt.Errorf("acquire: %w", tenant.ErrNotFound), 401, `{"error":{"code":"unauthenticated","message":"sign in first"}}`, ""},
		{fmt.Errorf("login: %w", auth.ErrInvalidCredentials), 401, `{"error":{"code":"invalid_credentials","message":"wrong username or password"}}`, ""},
		{auth.ErrSignupClosed, 403, `{"error":{"code":"signup_closed","message":"signup is closed on this server"}}`, ""},
		{errForbidden, 403, `{"error":{"code":"forbidden","message":"cross-origin requests are not allowed"}}`, ""},
		{errNotFound, 404, `{"error":{"code":"not_found","message":"there is nothing here"}}`, ""},
		{fmt.Errorf("get: %w", notes.ErrNotFound), 404, `{"error":{"code":"not_found","message":"there is nothing here"}}`, ""},
		{errMethodNotAllowed, 405, `{"error":{"code":"method_not_allowed","message":"that method is not allowed here"}}`, ""},
		{auth.ErrUsernameTaken, 409, `{"error":{"code":"username_taken","message":"that username is taken"}}`, ""},
		{auth.ErrInvalidUsername, 422, `{"error":{"code":"invalid_username","message":"username must be 3–32 letters, digits, _ or -, starting with a letter or digit"}}`, ""},
		{auth.ErrWeakPassword, 422, `{"error":{"code":"weak_password","message":"password must be between 8 and 1024 bytes long"}}`, ""},
		{&notes.ValidationError{Field: "title", Message: "title is empty"}, 422, `{"error":{"code":"invalid_note","message":"title is empty"}}`, ""},
		{&auth.ThrottledError{RetryAfter: 1500 * time.Millisecond}, 429, `{"error":{"code":"too_many_attempts","message":"too many failed attempts; try again in 2s"}}`, "2"},
		{tenant.ErrBusy, 503, `{"error":{"code":"busy","message":"the server is busy; try again in a moment"}}`, "2"},
		{fmt.Errorf("%w: %w", tenant.ErrBusy, context.DeadlineExceeded), 503, `{"error":{"code":"busy","message":"the server is busy; try again in a moment"}}`, "2"},
		{auth.ErrBusy, 503, `{"error":{"code":"busy","message":"the server is busy; try again in a moment"}}`, "2"},
		{tenant.ErrUnavailable, 503, `{"error":{"code":"tenant_unavailable","message":"your data cannot be reached right now; try again later"}}`, ""},
		{tenant.ErrClosed, 503, `{"error":{"code":"tenant_unavailable","message":"your data cannot be reached right now; try again later"}}`, ""},
		{context.Canceled, 503, `{"error":{"code":"unavailable","message":"the request was cancelled"}}`, ""},
		{fmt.Errorf("query: no such table: notes"), 500, `{"error":{"code":"internal","message":"something went wrong on our side"}}`, ""},
	}
	for _, tc := range cases {
		w := httptest.NewRecorder()
		a.fail(w, httptest.NewRequest("GET", "/api/v1/notes", nil), tc.err)
		if w.Code != tc.status || w.Body.String() != tc.body+"\n" || w.Header().Get("Retry-After") != tc.retryAfter {
			t.Errorf("%v: %d %q Retry-After %q; want %d %q Retry-After %q",
				tc.err, w.Code, w.Body, w.Header().Get("Retry-After"), tc.status, tc.body, tc.retryAfter)
		}
	}
}
