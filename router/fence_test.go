package router

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/notes"
)

// A change that a handler makes while its node stops serving (a cluster
// node losing its lease mid-request) is not acknowledged: it reached only
// this node's copy, which is no longer shipped, so the client is told it
// may not have been saved (503) instead of 201. A read in the same spot is
// answered, and once fenced, every request is refused at the gate.
func TestAChangeMadeWhileTheNodeFencesIsNotAcknowledged(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("ann", "correct horse battery")
	tn, err := r.pool.Directory().Lookup(t.Context(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	// The handler writes a note, then the node fences, then the handler
	// answers as the real one would.
	write := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, err := (notes.Notebook{}).Create(req.Context(), storeOf(req), notes.Draft{Title: "late"}); err != nil {
			t.Errorf("create: %v", err)
		}
		r.pool.Fence(errors.New("lease lost"))
		w.Header().Set("Location", "/api/v1/notes/1")
		w.WriteHeader(http.StatusCreated)
	})
	serveOne := func(method string, h http.Handler) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/api/v1/notes", nil)
		rec := httptest.NewRecorder()
		r.app.logRequests(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.app.serveWithStore(w, req, tn.ID, h)
		})).ServeHTTP(rec, req)
		return rec
	}
	refused := serveOne("POST", write)
	wantError(t, refused, http.StatusServiceUnavailable, "tenant_unavailable")
	if got := refused.Header().Get("Location"); got != "" {
		t.Errorf("the refusal carries the dropped answer's Location %q", got)
	}

	unfence(t, r)
	read := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.pool.Fence(errors.New("lease lost"))
		w.WriteHeader(http.StatusOK)
	})
	if rec := serveOne("GET", read); rec.Code != http.StatusOK {
		t.Fatalf("a read answered while the node fenced: %d, want 200", rec.Code)
	}
	wantError(t, c.do("GET", "/api/v1/notes", nil), http.StatusServiceUnavailable, "tenant_unavailable")

	unfence(t, r)
	ok := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { w.WriteHeader(http.StatusCreated) })
	if rec := serveOne("POST", ok); rec.Code != http.StatusCreated {
		t.Fatalf("a change with no fence: %d, want 201", rec.Code)
	}
}

// unfence serves again once the handles from before the fence are closed
// (they close in the background).
func unfence(t *testing.T, r *rig) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !r.pool.Drained(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the fenced pool's handles never closed")
		}
	}
	if err := r.pool.Unfence(); err != nil {
		t.Fatal(err)
	}
}

// A fenced node marks its refusal of a request another node forwarded, so
// that the forwarding node asks etcd who owns the tenant now
// (cluster.NotServingHeader); a client's own request gets no mark.
func TestAFencedNodeMarksItsRefusalOfAForwardedRequest(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("ann", "correct horse battery")
	r.pool.Fence(errors.New("lease lost"))
	rec := c.do("GET", "/api/v1/notes", nil)
	wantError(t, rec, http.StatusServiceUnavailable, "tenant_unavailable")
	if got := rec.Header().Get(cluster.NotServingHeader); got != "" {
		t.Fatalf("a client's own request was answered with %s: %q", cluster.NotServingHeader, got)
	}
	rec = c.do("GET", "/api/v1/notes", nil, cluster.ForwardedByHeader, "b")
	wantError(t, rec, http.StatusServiceUnavailable, "tenant_unavailable")
	if got := rec.Header().Get(cluster.NotServingHeader); got != "1" {
		t.Fatalf("a forwarded request's refusal has %s %q, want 1", cluster.NotServingHeader, got)
	}
}
