package router

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"time"

	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/tenant"
)

// Forwarder passes a request to the node that owns its tenant and gives
// the client that node's answer (cluster.Forwarder).
type Forwarder interface {
	Forward(w http.ResponseWriter, r *http.Request, tenant string, to cluster.NodeInfo)
}

// In cluster mode a request is handled as on a single node until the pool
// says its tenant is another node's (a *tenant.ElsewhereError from
// Acquire, for a signed-in request, a login or an account deletion). That
// error reaches fail, which forwards the request instead of answering it.
// Nothing has been written by then: signed-in answers are buffered, and a
// login fails before it signs in. The body has been read by the handler,
// so limitBody keeps a copy in cluster mode (at most MaxBodyBytes).
// A request that was itself forwarded is never forwarded again: the
// Forwarder answers 503 (ownership moved while it was on its way).

// keepBody reads r's body into memory so that it can be sent again, and
// answers the request itself (returning false) when it cannot be read.
func (a *App) keepBody(w http.ResponseWriter, r *http.Request) bool {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if !errors.As(err, &tooLarge) {
			err = badRequest("the request body could not be read")
		}
		a.fail(w, r, err)
		return false
	}
	infoOf(r).body = b
	r.Body = io.NopCloser(bytes.NewReader(b))
	return true
}

// forwardElsewhere forwards r to the node err names as its tenant's owner,
// if err is a *tenant.ElsewhereError, the App forwards and nothing has
// been written yet; it says whether it did.
func (a *App) forwardElsewhere(w http.ResponseWriter, r *http.Request, err error) bool {
	var ee *tenant.ElsewhereError
	if a.forwarder == nil || !errors.As(err, &ee) {
		return false
	}
	if sw, ok := w.(*statusWriter); ok && sw.wrote {
		return false
	}
	body := infoOf(r).body
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	if len(body) == 0 {
		r.Body, r.GetBody = http.NoBody, nil
	}
	// The owner's answer carries its own security headers, under this
	// node's request id; this node's are kept for a failure (ForwardFailed).
	info := infoOf(r)
	h := w.Header()
	info.kept = maps.Clone(h)
	clear(h)
	r.Header[RequestIDHeader] = []string{info.id}
	info.fromOwner = true
	r = r.WithContext(cluster.WithClient(r.Context(), info.client)) // for the owner's throttle
	a.forwarder.Forward(w, r, ee.Tenant, cluster.NodeInfo{ID: ee.Node, Advertise: ee.Address})
	return true
}

// ForwardFailed answers a request that could not be forwarded to its
// tenant's owner (unreachable, or ownership moved on the way): 503
// tenant_unavailable in the client's format. It is the OnError of the
// cluster.Forwarder the App is given (which logs err). The answer is this
// node's, so it carries the headers forwardElsewhere cleared for the
// owner's (security headers, request id, no-store) as any other does.
func (a *App) ForwardFailed(w http.ResponseWriter, r *http.Request, _ error) {
	info := infoOf(r)
	maps.Copy(w.Header(), info.kept)
	info.fromOwner = false
	a.fail(w, r, &failure{code: codeTenantUnavailable, retryAfter: forwardRetryAfter,
		message: "the server that holds your data cannot be reached right now; try again in a moment"})
}

// forwardRetryAfter is how long a client whose request could not be
// forwarded is told to wait: about the time an owner's lease takes to
// lapse and its tenants to move.
const forwardRetryAfter = 5 * time.Second
