package cluster

import (
	"encoding/json"
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
		f.Forward(w, r, NodeInfo{ID: "b", Advertise: owner})
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
	checkUnavailable(t, resp)

	self := httptest.NewRecorder()
	f.Forward(self, httptest.NewRequest("GET", "/", nil), NodeInfo{ID: "a", Advertise: owner.URL})
	checkUnavailable(t, self.Result())
	bad := httptest.NewRecorder()
	f.Forward(bad, httptest.NewRequest("GET", "/", nil), NodeInfo{ID: "b", Advertise: "not a url"})
	checkUnavailable(t, bad.Result())
	if hits.Load() != 0 {
		t.Fatalf("the owner was asked %d times", hits.Load())
	}
}
