package cluster

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	"github.com/alexedwards/scs/v2"

	"github.com/cubbyhq/cubby/auth"
)

// webNode is one node's HTTP side as the wiring would build it: scs over
// Sessions, and for /whoami a claim of the signed-in tenant that either
// answers here or forwards to the owner.
type webNode struct {
	node     *Node
	sessions *Sessions
	server   *httptest.Server
}

func startWebNode(t *testing.T, etcdURL, id string) *webNode {
	t.Helper()
	w := &webNode{}
	sm := scs.New()
	sm.Codec = auth.SessionCodec{}
	sm.Lifetime = auth.SessionLifetime
	fwd := NewForwarder(ForwarderConfig{NodeID: id, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { fwd.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(rw http.ResponseWriter, r *http.Request) {
		if err := sm.RenewToken(r.Context()); err != nil {
			t.Error(err)
		}
		sm.Put(r.Context(), auth.SessionTenantKey, r.URL.Query().Get("tenant"))
	})
	mux.HandleFunc("POST /logout", func(rw http.ResponseWriter, r *http.Request) {
		if err := sm.Destroy(r.Context()); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("GET /whoami", func(rw http.ResponseWriter, r *http.Request) {
		tenant := sm.GetString(r.Context(), auth.SessionTenantKey)
		if tenant == "" {
			http.Error(rw, "sign in first", http.StatusUnauthorized)
			return
		}
		own, err := w.node.Claim(r.Context(), tenant)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if !own.Mine {
			fwd.Forward(rw, r, tenant, own.Owner)
			return
		}
		io.WriteString(rw, tenant+" served by "+id)
	})
	w.server = httptest.NewServer(sm.LoadAndSave(mux))
	t.Cleanup(w.server.Close)
	eps, err := ParseURL(etcdURL)
	if err != nil {
		t.Fatal(err)
	}
	w.node, err = Open(testCtx(t), Config{Endpoints: eps, NodeID: id, Advertise: w.server.URL, LeaseTTL: testTTL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.node.Close() })
	w.sessions = openSessions(t, w.node, SessionConfig{})
	sm.Store = w.sessions
	return w
}

func call(t *testing.T, c *http.Client, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestThreeNodesOneSessionOneOwner walks the wired flow on three nodes: a
// session made on a works on b and c; the tenant is served by whichever
// node claimed it first, through any node; logout on a ends it on c.
func TestThreeNodesOneSessionOneOwner(t *testing.T) {
	e := startEtcd(t)
	a, b, c := startWebNode(t, e.URL(), "a"), startWebNode(t, e.URL(), "b"), startWebNode(t, e.URL(), "c")
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	// One cookie jar for three hosts: copy the cookie by hand.
	if code, _ := call(t, client, "POST", a.server.URL+"/login?tenant=t1"); code != http.StatusOK {
		t.Fatalf("login on a: %d", code)
	}
	cookies := jar.Cookies(mustURL(t, a.server.URL))
	for _, w := range []*webNode{b, c} {
		jar.SetCookies(mustURL(t, w.server.URL), cookies)
	}

	// b answers first, so b claims t1; a and c forward to it.
	for _, w := range []*webNode{b, a, c} {
		code, body := call(t, client, "GET", w.server.URL+"/whoami")
		if code != http.StatusOK || body != "t1 served by b" {
			t.Fatalf("whoami via %s: %d %q; want t1 served by b", w.node.Info().ID, code, body)
		}
	}

	mustFind(t, c.sessions, cookies[0].Value, "c has the session cached")
	if code, _ := call(t, client, "POST", a.server.URL+"/logout"); code != http.StatusOK {
		t.Fatalf("logout on a: %d", code)
	}
	await(t, c.sessions.m, "c drops the session", func() bool {
		_, ok := c.sessions.v.get(digestOf(cookies[0].Value))
		return !ok
	})
	if code, _ := call(t, client, "GET", c.server.URL+"/whoami"); code != http.StatusUnauthorized {
		t.Fatalf("whoami via c after logout on a: %d, want 401", code)
	}
}
