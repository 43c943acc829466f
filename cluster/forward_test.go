package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func quietForwarder(t testing.TB, cfg ForwarderConfig) *Forwarder {
	cfg.NodeID = "a"
	cfg.Logger = slog.New(slog.DiscardHandler)
	f := NewForwarder(cfg)
	t.Cleanup(func() { f.Close() })
	return f
}

// front is node a: every request goes to the owner at owner.
func front(t testing.TB, f *Forwarder, owner string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Forward(w, r, "t1", NodeInfo{ID: "b", Advertise: owner})
	}))
	t.Cleanup(s.Close)
	return s
}

func TestForwardGivesTheOwnersAnswer(t *testing.T) {
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Set-Cookie", "session=x")
		w.Header().Set("X-Seen", strings.Join([]string{r.Method, r.URL.RequestURI(), r.Host,
			r.Header.Get("X-Forwarded-For"), r.Header.Get(ForwardedByHeader), string(body)}, "|"))
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "owner's answer")
	}))
	defer owner.Close()
	f := quietForwarder(t, ForwarderConfig{})
	a := front(t, f, owner.URL)

	req, _ := http.NewRequest("POST", a.URL+"/api/notes?x=1", strings.NewReader("note"))
	req.Host = "cubby.example"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || string(body) != "owner's answer" || resp.Header.Get("Set-Cookie") != "session=x" {
		t.Fatalf("client got %d %q %v; want the owner's 201", resp.StatusCode, body, resp.Header)
	}
	want := "POST|/api/notes?x=1|cubby.example|203.0.113.9, 127.0.0.1|a|note"
	if got := resp.Header.Get("X-Seen"); got != want {
		t.Fatalf("owner saw %q\nwant       %q", got, want)
	}
}

// checkUnavailable asserts a 503 in cubby's JSON error shape.
func checkUnavailable(t *testing.T, resp *http.Response) {
	t.Helper()
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	err := json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || err != nil || body.Error.Code != "tenant_unavailable" ||
		body.Error.Message == "" || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("got %d %+v (%v) %v; want 503 tenant_unavailable JSON with Retry-After", resp.StatusCode, body, err, resp.Header)
	}
}

func TestForwardToAnUnreachableOwnerIs503(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	a := front(t, quietForwarder(t, ForwarderConfig{}), gone.URL)
	resp, err := http.Get(a.URL + "/api/notes")
	if err != nil {
		t.Fatal(err)
	}
	checkUnavailable(t, resp)
}

func TestForwardToASlowOwnerIsBounded(t *testing.T) {
	release := make(chan struct{})
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer owner.Close()
	defer close(release)
	a := front(t, quietForwarder(t, ForwarderConfig{Timeout: 200 * time.Millisecond}), owner.URL)
	resp, err := http.Get(a.URL + "/api/notes")
	if err != nil {
		t.Fatal(err)
	}
	checkUnavailable(t, resp)
}

func TestForwardNeverLoops(t *testing.T) {
	var hits atomic.Int64
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer owner.Close()
	f := quietForwarder(t, ForwarderConfig{})
	a := front(t, f, owner.URL)
	req, _ := http.NewRequest("GET", a.URL+"/", nil)
	req.Header.Set(ForwardedByHeader, "c")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(NotServingHeader) != "1" {
		t.Errorf("a forwarded request's refusal lacks %s: the sender cannot ask etcd for the owner", NotServingHeader)
	}
	checkUnavailable(t, resp)

	self := httptest.NewRecorder()
	f.Forward(self, httptest.NewRequest("GET", "/", nil), "t1", NodeInfo{ID: "a", Advertise: owner.URL})
	checkUnavailable(t, self.Result())
	bad := httptest.NewRecorder()
	f.Forward(bad, httptest.NewRequest("GET", "/", nil), "t1", NodeInfo{ID: "b", Advertise: "not a url"})
	checkUnavailable(t, bad.Result())
	if hits.Load() != 0 {
		t.Fatalf("the owner was asked %d times", hits.Load())
	}
}

// refusing is a node that answers every request as a fenced one does: 503
// marked NotServingHeader, before it reads anything.
func refusing(t *testing.T, hits *atomic.Int64) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set(NotServingHeader, "1")
		w.Header().Set("Retry-After", "5")
		http.Error(w, "not serving", http.StatusServiceUnavailable)
	}))
	t.Cleanup(s.Close)
	return s
}

// replaying is node a as the router is: the body kept, so that it can be
// sent again (Request.GetBody), and every request forwarded to to.
func replaying(t *testing.T, f *Forwarder, to NodeInfo) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(b))), nil }
		f.Forward(w, r, "t1", to)
	}))
	t.Cleanup(s.Close)
	return s
}

// A node that answers it does not serve the tenant (fenced; a watch-fed
// cache sent the request there after another node had claimed the tenant)
// is not the end of the request: the owner etcd names gets it, body and
// all, and the client never sees the refusal.
func TestARefusedRequestGoesToTheOwnerEtcdNames(t *testing.T) {
	var refused atomic.Int64
	stale := refusing(t, &refused)
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "owner got "+string(b))
	}))
	defer owner.Close()
	var asked []string
	f := quietForwarder(t, ForwarderConfig{Owner: func(_ context.Context, tenant string) (NodeInfo, bool, error) {
		asked = append(asked, tenant)
		return NodeInfo{ID: "d", Advertise: owner.URL}, true, nil
	}})
	a := replaying(t, f, NodeInfo{ID: "c", Advertise: stale.URL})
	resp, err := http.Post(a.URL+"/api/v1/notes", "application/json", strings.NewReader(`{"title":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || string(body) != `owner got {"title":"x"}` {
		t.Fatalf("client got %d %q, want the owner's 201 with the body sent", resp.StatusCode, body)
	}
	if refused.Load() != 1 || len(asked) != 1 || asked[0] != "t1" {
		t.Fatalf("the stale owner was asked %d times, etcd %v; want once each, for t1", refused.Load(), asked)
	}
}

// A refusal is retried at most once, only where etcd names another node,
// only with a body that can be sent again; otherwise, and for an
// unmarked 503, the client gets a 503 without the mark.
func TestARefusedRequestIsRetriedOnceAtMost(t *testing.T) {
	var hitsC, hitsD atomic.Int64
	c, d := refusing(t, &hitsC), refusing(t, &hitsD)
	cases := []struct {
		name     string
		owner    func() (NodeInfo, bool, error)
		noReplay bool
		hitsD    int64
	}{
		{name: "etcd names the node that refused", owner: func() (NodeInfo, bool, error) { return NodeInfo{ID: "c", Advertise: c.URL}, true, nil }},
		{name: "etcd names this node", owner: func() (NodeInfo, bool, error) { return NodeInfo{ID: "a", Advertise: d.URL}, true, nil }},
		{name: "nobody owns it", owner: func() (NodeInfo, bool, error) { return NodeInfo{}, false, nil }},
		{name: "etcd cannot be read", owner: func() (NodeInfo, bool, error) { return NodeInfo{}, false, errors.New("etcd down") }},
		{name: "the owner etcd names refuses too", owner: func() (NodeInfo, bool, error) { return NodeInfo{ID: "d", Advertise: d.URL}, true, nil }, hitsD: 1},
		{name: "the body cannot be sent again", owner: func() (NodeInfo, bool, error) { return NodeInfo{ID: "d", Advertise: d.URL}, true, nil }, noReplay: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hitsC.Store(0)
			hitsD.Store(0)
			var asked atomic.Int64
			f := quietForwarder(t, ForwarderConfig{Owner: func(context.Context, string) (NodeInfo, bool, error) {
				asked.Add(1)
				return tc.owner()
			}})
			to := NodeInfo{ID: "c", Advertise: c.URL}
			a := replaying(t, f, to)
			if tc.noReplay {
				a = front(t, f, c.URL)
			}
			resp, err := http.Post(a.URL+"/api/v1/notes", "application/json", strings.NewReader(`{"title":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Header.Get(NotServingHeader); got != "" {
				t.Errorf("the client got the mark %q", got)
			}
			checkUnavailable(t, resp)
			wantAsked := int64(1)
			if tc.noReplay {
				wantAsked = 0
			}
			if hitsC.Load() != 1 || hitsD.Load() != tc.hitsD || asked.Load() != wantAsked {
				t.Fatalf("c asked %d times, d %d, etcd %d; want 1, %d, %d", hitsC.Load(), hitsD.Load(), asked.Load(), tc.hitsD, wantAsked)
			}
		})
	}
	// An unmarked 503 is the owner's own answer: passed on, not retried.
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "owner busy", http.StatusServiceUnavailable)
	}))
	defer owner.Close()
	var asked atomic.Int64
	f := quietForwarder(t, ForwarderConfig{Owner: func(context.Context, string) (NodeInfo, bool, error) {
		asked.Add(1)
		return NodeInfo{ID: "d", Advertise: d.URL}, true, nil
	}})
	resp, err := http.Get(replaying(t, f, NodeInfo{ID: "b", Advertise: owner.URL}).URL + "/api/v1/notes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.TrimSpace(string(body)) != "owner busy" || asked.Load() != 0 {
		t.Fatalf("an owner's own 503 became %d %q (etcd asked %d times)", resp.StatusCode, body, asked.Load())
	}
}

// A node that cannot be reached at all (down, or gone from its address)
// was sent nothing: the request goes to the owner etcd names, if another.
func TestARequestForANodeThatIsDownGoesToTheOwnerEtcdNames(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "owner got "+string(b))
	}))
	defer owner.Close()
	for _, tc := range []struct {
		name  string
		owner NodeInfo
		want  int
	}{
		{"etcd names another node", NodeInfo{ID: "d", Advertise: owner.URL}, http.StatusCreated},
		{"etcd names the node that is down", NodeInfo{ID: "c", Advertise: gone.URL}, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := quietForwarder(t, ForwarderConfig{Owner: func(context.Context, string) (NodeInfo, bool, error) {
				return tc.owner, true, nil
			}})
			a := replaying(t, f, NodeInfo{ID: "c", Advertise: gone.URL})
			resp, err := http.Post(a.URL+"/api/v1/notes", "application/json", strings.NewReader(`{"title":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == http.StatusServiceUnavailable {
				checkUnavailable(t, resp)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || string(body) != `owner got {"title":"x"}` {
				t.Fatalf("client got %d %q, want the owner's 201 with the body", resp.StatusCode, body)
			}
		})
	}
}
