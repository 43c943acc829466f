package router

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cubbyhq/cubby/cluster"
	"github.com/cubbyhq/cubby/tenant"
)

// elsewhereOwners is a tenant.Owners that, once on, says another node owns
// every tenant.
type elsewhereOwners struct{ on atomic.Bool }

func (o *elsewhereOwners) Claim(ctx context.Context, id string) (bool, error) {
	if o.on.Load() {
		return false, &tenant.ElsewhereError{Tenant: id, Node: "other", Address: "http://other.test:8080"}
	}
	return false, nil
}

func (o *elsewhereOwners) Release(string) {}

// recordingForwarder answers as the owner would and remembers what it got.
type recordingForwarder struct {
	mu         sync.Mutex
	to         cluster.NodeInfo
	tenant     string
	method     string
	path, body string
	again      string // the body GetBody gives, to send the request again
	answer     func(w http.ResponseWriter, r *http.Request)
}

func (f *recordingForwarder) Forward(w http.ResponseWriter, r *http.Request, tenant string, to cluster.NodeInfo) {
	b, _ := io.ReadAll(r.Body)
	var again []byte
	if r.GetBody != nil {
		if body, err := r.GetBody(); err == nil {
			again, _ = io.ReadAll(body)
		}
	}
	f.mu.Lock()
	f.to, f.tenant, f.method, f.path, f.body, f.again = to, tenant, r.Method, r.URL.RequestURI(), string(b), string(again)
	f.mu.Unlock()
	f.answer(w, r)
}

// newForwardingRig is a rig whose pool finds every tenant owned elsewhere
// once owners is on, and whose App forwards through fwd (nil: none).
func newForwardingRig(t *testing.T, fwd Forwarder) (*rig, *elsewhereOwners) {
	owners := &elsewhereOwners{}
	r := newRig(t, rigOptions{pool: tenant.Config{Owners: owners}})
	r.cfg.Forwarder = fwd
	app, err := New(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.app = app
	return r, owners
}

func TestARequestForATenantOwnedElsewhereIsForwardedWithItsBody(t *testing.T) {
	note := `{"id":7,"title":"from the owner","body":"","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`
	fwd := &recordingForwarder{answer: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/api/v1/notes/7")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, note+"\n")
	}}
	r, owners := newForwardingRig(t, fwd)
	c := r.client()
	c.signup("alice", "correct horse battery")
	owners.on.Store(true)
	sent := `{"title":"hello","body":"kept for the owner"}`
	rec := c.do("POST", "/api/v1/notes", sent)
	if rec.Code != http.StatusCreated || strings.TrimSpace(rec.Body.String()) != note {
		t.Fatalf("forwarded POST answered %d %s, want the owner's answer", rec.Code, rec.Body)
	}
	if fwd.to.ID != "other" || fwd.to.Advertise != "http://other.test:8080" || fwd.method != "POST" ||
		fwd.path != "/api/v1/notes" || fwd.body != sent || fwd.again != sent {
		t.Fatalf("forwarded %s %s %q (again %q) to %+v", fwd.method, fwd.path, fwd.body, fwd.again, fwd.to)
	}
	if tn, err := r.pool.Directory().Lookup(t.Context(), "alice"); err != nil || fwd.tenant != tn.ID {
		t.Fatalf("forwarded as tenant %q, want alice's %+v (%v)", fwd.tenant, tn, err)
	}
	if got := rec.Header().Values("X-Content-Type-Options"); len(got) > 1 {
		t.Errorf("the forwarded answer carries this node's headers too: %v", got)
	}
}

func TestABodyOverTheLimitIsRefusedBeforeForwarding(t *testing.T) {
	fwd := &recordingForwarder{answer: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }}
	r, owners := newForwardingRig(t, fwd)
	c := r.client()
	c.signup("alice", "correct horse battery")
	owners.on.Store(true)
	big := `{"title":"t","body":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	req := strings.NewReader(big)
	rec := c.do("POST", "/api/v1/notes", io.NopCloser(req)) // no Content-Length: read to the limit
	wantError(t, rec, http.StatusRequestEntityTooLarge, "too_large")
	if fwd.method != "" {
		t.Fatal("a body over the limit was forwarded")
	}
}

func TestATenantOwnedElsewhereWithoutAForwarderIsUnavailable(t *testing.T) {
	r, owners := newForwardingRig(t, nil)
	c := r.client()
	c.signup("alice", "correct horse battery")
	owners.on.Store(true)
	wantError(t, c.do("GET", "/api/v1/notes", nil), http.StatusServiceUnavailable, "tenant_unavailable")
}

func TestAFailedForwardIsA503InTheClientsFormat(t *testing.T) {
	fwd := &recordingForwarder{}
	r, owners := newForwardingRig(t, fwd)
	app := r.app
	c := r.client()
	c.signup("alice", "correct horse battery")
	owners.on.Store(true)
	for _, tc := range []struct{ path, contentType string }{
		{"/api/v1/notes", "application/json"},
		{"/notes", "text/html"},
	} {
		fwd.answer = func(w http.ResponseWriter, req *http.Request) { app.ForwardFailed(w, req, io.ErrUnexpectedEOF) }
		rec := c.do("GET", tc.path, nil)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
			!strings.HasPrefix(rec.Header().Get("Content-Type"), tc.contentType) {
			t.Errorf("failed forward of %s: %d, Retry-After %q, %s", tc.path, rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Content-Type"))
		}
	}
}
