package router

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/cubbyhq/cubby/tenant"
)

// ctxKey keys the values this package puts in a request's context.
type ctxKey int

const infoKey ctxKey = 0

// requestInfo is what handlers learn about a request that the request log
// and error pages report: which route matched and who made the request.
// It belongs to one request and is only touched by its goroutine.
type requestInfo struct {
	id     string // the request id (see requestID)
	route  string // the route's pattern, e.g. /api/v1/notes/:id
	client string // the client's address (see clientAddr)
	tenant string // the signed-in tenant's id
	user   string // the signed-in username, once a page has read it
	// writeExtra is how much longer than Config.WriteTimeout the answer
	// may take to write (an export, in proportion to its size). It must
	// be set before the answer starts.
	writeExtra time.Duration
	// params are the route's parameters (see param).
	params httprouter.Params
	// store is the signed-in user's store while requireUser holds it (see
	// storeOf); nil before and after.
	store *tenant.Store
	// body is the request's body, kept in cluster mode so that the request
	// can be forwarded after a handler read it (see forward.go).
	body []byte
	// kept are the headers this node had set when it forwarded the request
	// to its tenant's owner, for a failure to carry (see forward.go).
	kept http.Header
	// fromOwner is whether the answer is the owner's, forwarded: it gets
	// the write time its size earns, as on the owner (see statusWriter).
	fromOwner bool
	// contentLength is the Content-Length value of a buffered answer (see
	// sendTo), here to save an allocation.
	contentLength [1]string
}

// infoOf returns r's requestInfo; outside the logging middleware it is a
// throwaway value, so callers never need to check.
func infoOf(r *http.Request) *requestInfo {
	if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// infoContext is a request's context carrying its requestInfo under
// infoKey: what context.WithValue would make, but a value that the
// logging middleware keeps in its statusWriter beside the info, so that it
// costs the request no allocation of its own. Every other key, and the
// deadline, Done and Err, are the parent's.
//
// It also holds one value more for whoever asks first (auth.ValueHolder:
// the session middleware's), sparing that middleware a copy of the request.
type infoContext struct {
	context.Context
	info             *requestInfo
	heldKey, heldVal any
}

// Value returns the requestInfo for infoKey, the held value for its key,
// and asks the parent for any other key.
func (c *infoContext) Value(key any) any {
	if key == infoKey {
		return c.info
	}
	if c.heldKey != nil && key == c.heldKey {
		return c.heldVal
	}
	return c.Context.Value(key)
}

// HoldValue holds val under key, if no value is held yet and key is
// comparable (as context.WithValue insists), and reports whether it did.
func (c *infoContext) HoldValue(key, val any) bool {
	if c.heldKey != nil || key == nil || !reflect.TypeOf(key).Comparable() {
		return false
	}
	c.heldKey, c.heldVal = key, val
	return true
}

// storeOf returns the signed-in user's store that requireUser holds for r.
// Routes without requireUser have none: calling it there is a bug.
func storeOf(r *http.Request) *tenant.Store {
	s := infoOf(r).store
	if s == nil {
		panic("router: no tenant store for the request; is the route missing requireUser?")
	}
	return s
}

// param returns the route parameter name of r ("" if there is none).
func param(r *http.Request, name string) string {
	return infoOf(r).params.ByName(name)
}

// isAPI reports whether r is for the JSON API, whose errors are JSON.
func isAPI(r *http.Request) bool {
	return r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/")
}
