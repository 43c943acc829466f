package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The API tests keep openapi.json true: every request a rig's client makes
// under /api/ goes through contractHandler, which validates the request
// and the answer against the document with kin-openapi and fails the test
// on any mismatch (an undocumented path, method or status, a body or
// header the document does not allow, an error code the status never
// carries).

// contract is openapi.json, loaded, validated and routed once per test
// binary.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.json: %w", err)
	}
	return &contract{doc: doc, router: r}, nil
})

func contractOf(t testing.TB) *contract {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exchange is one request and the answer it got.
type exchange struct {
	req    *http.Request
	body   []byte // the request body as sent (up to MaxBodyBytes+1 bytes)
	status int
	header http.Header
	answer []byte
}

// options are the validation options: formats (date-time) checked, every
// status must be documented, and the session scheme holds when the
// session cookie is sent.
func (c *contract) options() *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus:   true,
		MultiError:              true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			s := in.SecurityScheme
			if s.Type != "apiKey" || s.In != "cookie" {
				return fmt.Errorf("scheme %q: only cookie keys are known", in.SecuritySchemeName)
			}
			if _, err := in.RequestValidationInput.Request.Cookie(s.Name); err != nil {
				return fmt.Errorf("no %s cookie", s.Name)
			}
			return nil
		},
	}
}

// check validates one exchange under /api/ against the document. A
// request the document refuses must get a 4xx; a path or method the
// document lacks must get the 404 or 405 error it describes for them.
func (c *contract) check(ctx context.Context, x exchange) error {
	find := x.req.Clone(ctx)
	if find.Method == http.MethodHead {
		find.Method = http.MethodGet // a GET route answers HEAD too
	}
	route, params, err := c.router.FindRoute(find)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return c.checkUnrouted(x, http.StatusNotFound)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return c.checkUnrouted(x, http.StatusMethodNotAllowed)
	case err != nil:
		return fmt.Errorf("find route: %w", err)
	}
	req := x.req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(x.body))
	if len(x.body) > 0 && req.Header.Get("Content-Type") != "application/json" {
		// The server reads every body as JSON, whatever its content type
		// says (curl -d sends a form's): so does the check.
		req.Header.Set("Content-Type", "application/json")
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.options()}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && (x.status < 400 || x.status > 499) {
		return fmt.Errorf("the document refuses the request (%v), yet it got %d", reqErr, x.status)
	}
	in.Request = x.req // ValidateResponse only looks at the method
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: x.status, Header: x.header,
		Body: io.NopCloser(bytes.NewReader(x.answer)), Options: c.options(),
	})
	if err != nil {
		return fmt.Errorf("answer %d: %w", x.status, err)
	}
	return nil
}

// unroutedAnswers are the answers a request the document has no operation
// for may get, by status: the middleware's refusals come before routing.
var unroutedAnswers = map[int]string{
	http.StatusNotFound:              "NotFound",
	http.StatusMethodNotAllowed:      "MethodNotAllowed",
	http.StatusForbidden:             "Forbidden",
	http.StatusRequestEntityTooLarge: "TooLarge",
}

// checkUnrouted checks the answer to a request for a path (want 404) or a
// method (want 405) the document does not list.
func (c *contract) checkUnrouted(x exchange, want int) error {
	name, ok := unroutedAnswers[x.status]
	if !ok || (x.status != want && x.status != http.StatusForbidden && x.status != http.StatusRequestEntityTooLarge) {
		return fmt.Errorf("%s %s is not in the document, yet it got %d (want %d)", x.req.Method, x.req.URL.Path, x.status, want)
	}
	ref := c.doc.Components.Responses[name]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("the document has no %s response", name)
	}
	if x.req.Method == http.MethodHead {
		return nil
	}
	mt := ref.Value.Content.Get(x.header.Get("Content-Type"))
	if mt == nil {
		return fmt.Errorf("%s answer with content type %q", name, x.header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(x.answer, &v); err != nil {
		return fmt.Errorf("%s answer %q: %w", name, x.answer, err)
	}
	if err := mt.Schema.Value.VisitJSON(v, openapi3.VisitAsResponse()); err != nil {
		return fmt.Errorf("%s answer %q: %w", name, x.answer, err)
	}
	return nil
}

// contractHandler serves h and, for every request under /api/, checks the
// exchange against the document, failing t on a mismatch. The answer
// streams to w as h writes it; a copy is kept for the check.
func contractHandler(t testing.TB, h http.Handler) http.Handler {
	c := contractOf(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			h.ServeHTTP(w, r)
			return
		}
		x := exchange{req: r.Clone(r.Context())}
		if r.Body != nil && r.Body != http.NoBody {
			var err error
			x.body, err = io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
			if err != nil {
				t.Errorf("contract: read the request body: %v", err)
			}
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(x.body), r.Body), r.Body}
		}
		tw := &teeWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(tw, r)
		x.status, x.header, x.answer = tw.status, tw.header, tw.body.Bytes()
		if x.header == nil { // nothing written at all: net/http sends 200
			x.header = w.Header().Clone()
		}
		if err := c.check(context.Background(), x); err != nil {
			t.Errorf("contract: %s %s: %v\nanswer: %.500s", r.Method, r.URL, err, x.answer)
		}
	})
}

// teeWriter passes an answer through and keeps its status, headers (as
// they were sent) and a copy of its body.
type teeWriter struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
}

// WriteHeader records the status and the headers sent with it.
func (w *teeWriter) WriteHeader(code int) {
	if w.header == nil && code >= 200 {
		w.status, w.header = code, maps.Clone(w.ResponseWriter.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write keeps a copy of b.
func (w *teeWriter) Write(b []byte) (int, error) {
	if w.header == nil {
		w.WriteHeader(http.StatusOK)
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (write deadlines, flushes) reach the
// connection.
func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
