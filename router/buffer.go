package router

import (
	"bytes"
	"maps"
	"net/http"
	"strconv"
)

// bufferedResponse holds a handler's whole answer in memory, so that what
// the handler held (a tenant's handle) is released before a byte goes to
// the network: a client that reads slowly, or not at all, then holds only
// its connection, never a user's file. It deliberately has no Unwrap, so a
// handler cannot reach the connection past it.
type bufferedResponse struct {
	// header is the real response's header (shared) or own.
	header http.Header
	shared bool
	// own is the buffer's own header map, kept for reuse.
	own    http.Header
	status int
	body   bytes.Buffer
}

// maxPooledBody is the largest body buffer kept for reuse: a rare big
// answer (an export-sized listing) should not stay in memory for good.
const maxPooledBody = 64 << 10

// getBuffer returns an empty bufferedResponse, recycled when one is free,
// whose header starts as h, the real response's, with the headers already
// set (request id, security headers), which the handler may change.
//
// Unless own is set, the handler writes into h itself: nothing else
// touches it meanwhile, and the answer is sent with whatever the handler
// set. With own, it writes into a copy of h (the values shared, not
// copied), which sendTo puts in h's place: an answer that may be dropped
// after its handler ran (a change on a node fenced meanwhile) must not
// leave its handler's headers on the failure sent instead.
func (a *App) getBuffer(h http.Header, own bool) *bufferedResponse {
	b, _ := a.buffers.Get().(*bufferedResponse)
	if b == nil {
		b = &bufferedResponse{}
	}
	if !own {
		b.header, b.shared = h, true
		return b
	}
	if b.own == nil {
		b.own = make(http.Header, len(h)+4)
	}
	maps.Copy(b.own, h)
	b.header, b.shared = b.own, false
	return b
}

// putBuffer recycles b once its answer is sent.
func (a *App) putBuffer(b *bufferedResponse) {
	if b.body.Cap() > maxPooledBody {
		return
	}
	clear(b.own)
	b.header, b.shared = nil, false
	b.status = 0
	b.body.Reset()
	a.buffers.Put(b)
}

// Header is the header the answer will carry.
func (b *bufferedResponse) Header() http.Header { return b.header }

// WriteHeader records the first status; informational ones are not kept.
func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 && code >= 200 {
		b.status = code
	}
}

// Write adds to the body, implying 200 as net/http does.
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// autoLengthMax is the largest body net/http's server gives a
// Content-Length itself when the handler has written it all by the time
// it returns (its bufferBeforeChunkingSize): a longer one it would send
// chunked unless told its length.
const autoLengthMax = 2048

// sendTo writes the answer to w, the response of the request info belongs
// to. An error means the client went away or missed the write deadline;
// there is no one left to tell.
func (b *bufferedResponse) sendTo(w http.ResponseWriter, info *requestInfo) {
	h := w.Header()
	if !b.shared {
		clear(h)
		maps.Copy(h, b.header)
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.status != http.StatusNoContent && b.status != http.StatusNotModified && b.body.Len() > autoLengthMax {
		// The whole body is known: say so, rather than chunk it. A short
		// one net/http measures itself (the handler returns as soon as it
		// is written), a HEAD answer's too.
		info.contentLength[0] = strconv.Itoa(b.body.Len())
		h["Content-Length"] = info.contentLength[:]
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes()) //nolint:errcheck // see above
}

// serveWithStore runs next with tenant id's store in the request context
// and sends its answer once the store is released. When the store cannot be
// had, it answers with the failure (a session whose tenant is gone is
// ended: see endDeadSession).
func (a *App) serveWithStore(w http.ResponseWriter, r *http.Request, id string, next http.Handler) {
	buf, err := a.bufferWithStore(w, r, id, next)
	if err != nil {
		a.fail(w, r, a.endDeadSession(r, err))
		return
	}
	buf.sendTo(w, infoOf(r))
	a.putBuffer(buf)
}

// bufferWithStore runs next with tenant id's store in the request's
// requestInfo (see storeOf), into a buffer, and releases the store before
// returning that buffer for the caller to send.
func (a *App) bufferWithStore(w http.ResponseWriter, r *http.Request, id string, next http.Handler) (*bufferedResponse, error) {
	acquire := a.pool.Acquire
	if !changes(r.Method) {
		// A read may be answered from the memo of the tenant's closed
		// handle without opening its file (a note read by id).
		acquire = a.pool.AcquireLazily
	}
	s, release, err := acquire(r.Context(), id)
	if err != nil {
		return nil, err
	}
	info := infoOf(r)
	info.store = s
	defer func() {
		info.store = nil
		release()
	}()
	buf := a.getBuffer(w.Header(), changes(r.Method))
	next.ServeHTTP(buf, r)
	if changes(r.Method) && buf.status < 400 && a.pool.Fenced() != nil {
		// The node stopped serving while this change was made (a cluster
		// node that lost its lease): it reached only this node's copy,
		// which is no longer shipped to the bucket and may be superseded by
		// another node's. Checked while the store is still held, so the
		// pool cannot have rejoined in between (it waits for every handle).
		a.putBuffer(buf)
		return nil, errFencedChange
	}
	return buf, nil
}

// changes is whether a request of this method may change a user's data.
func changes(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// errFencedChange answers a change that succeeded on a node that stopped
// serving meanwhile: not acknowledged, since it may be lost.
var errFencedChange = &failure{code: codeTenantUnavailable, retryAfter: forwardRetryAfter,
	message: "this server stopped serving while your change was made, so it may not have been saved; check before you try again"}
