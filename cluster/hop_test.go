package cluster

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func testHop(t testing.TB, key byte, now func() time.Time) *Hop {
	t.Helper()
	h, err := NewHop(HopConfig{Key: bytes.Repeat([]byte{key}, HopKeyLen), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// signed is a request as node a forwards it for client 203.0.113.9, as
// the owner receives it.
func signed(h *Hop) *http.Request {
	out := httptest.NewRequest("POST", "/api/v1/login?x=1", nil)
	out.Host = "cubby.example"
	out.Header.Set(ForwardedByHeader, "a")
	h.sign(out, "203.0.113.9")
	in := httptest.NewRequest("POST", "/api/v1/login?x=1", nil)
	in.Host = out.Host
	in.Header = out.Header.Clone()
	return in
}

func TestHopVouchesOnlyForWhatItSigned(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	h := testHop(t, 1, clock)
	if addr, ok := h.Client(signed(h)); !ok || addr != "203.0.113.9" {
		t.Fatalf("a signed hop: %q, %v; want 203.0.113.9", addr, ok)
	}
	cases := []struct {
		name   string
		change func(r *http.Request)
	}{
		{"no hop header", func(r *http.Request) { r.Header.Del(HopHeader) }},
		{"another client address", func(r *http.Request) { r.Header.Set(ClientHeader, "198.51.100.1") }},
		{"two client addresses", func(r *http.Request) { r.Header.Add(ClientHeader, "198.51.100.1") }},
		{"another forwarding node", func(r *http.Request) { r.Header.Set(ForwardedByHeader, "c") }},
		{"another path", func(r *http.Request) { r.RequestURI = "/api/v1/signup?x=1" }},
		{"another method", func(r *http.Request) { r.Method = "PUT" }},
		{"another host", func(r *http.Request) { r.Host = "evil.example" }},
		{"a signature cut short", func(r *http.Request) { r.Header.Set(HopHeader, r.Header.Get(HopHeader)[:20]) }},
		{"a time moved", func(r *http.Request) {
			r.Header.Set(HopHeader, strings.Replace(r.Header.Get(HopHeader), "v1.1800000000000.", "v1.1800000001000.", 1))
		}},
		{"a signature with a line break inside", func(r *http.Request) {
			v := r.Header.Get(HopHeader)
			r.Header[HopHeader] = []string{v[:len(v)-10] + "\r" + v[len(v)-10:]}
		}},
		{"garbage", func(r *http.Request) { r.Header.Set(HopHeader, "v1..") }},
		{"a huge header", func(r *http.Request) { r.Header.Set(HopHeader, strings.Repeat("v", 4096)) }},
	}
	for _, c := range cases {
		r := signed(h)
		c.change(r)
		if addr, ok := h.Client(r); ok {
			t.Errorf("%s: believed %q", c.name, addr)
		}
	}
	if _, ok := testHop(t, 2, clock).Client(signed(h)); ok {
		t.Error("a hop signed with another cluster's key was believed")
	}
	late := func() time.Time { return now.Add(31 * time.Second) }
	if _, ok := testHop(t, 1, late).Client(signed(h)); ok {
		t.Error("a hop signed 31 s ago was believed (replay)")
	}
	early := func() time.Time { return now.Add(-31 * time.Second) }
	if _, ok := testHop(t, 1, early).Client(signed(h)); ok {
		t.Error("a hop signed 31 s in the future was believed")
	}
}

// A client's own hop headers never reach the owner: the forwarding node
// drops them and signs the address it worked out itself.
func TestForwardSignsTheClientAndDropsForgedHopHeaders(t *testing.T) {
	h := testHop(t, 1, nil)
	var mu sync.Mutex
	var got []string
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr, ok := h.Client(r)
		mu.Lock()
		got = append(got, addr+"|"+r.Header.Get(ClientHeader)+"|"+map[bool]string{true: "ok", false: "no"}[ok])
		mu.Unlock()
	}))
	defer owner.Close()
	f := quietForwarder(t, ForwarderConfig{Hop: h})
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("X-Router-Client"); v != "" {
			r = r.WithContext(WithClient(r.Context(), v))
		}
		f.Forward(w, r, "t1", NodeInfo{ID: "b", Advertise: owner.URL})
	}))
	defer a.Close()
	forged := signed(h) // a real signature, lifted from another request
	for _, routerClient := range []string{"198.51.100.7", ""} {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", a.URL+"/api/v1/me", nil)
		req.Header.Set(ClientHeader, "203.0.113.9")
		req.Header.Set(HopHeader, forged.Header.Get(HopHeader))
		req.Header.Set("X-Router-Client", routerClient)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []string{"198.51.100.7|198.51.100.7|ok", "127.0.0.1|127.0.0.1|ok"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("owner saw %q; want %q", got, want)
	}
}

func TestNewHopRefusesAShortKey(t *testing.T) {
	if _, err := NewHop(HopConfig{Key: make([]byte, HopKeyLen-1)}); err == nil {
		t.Fatal("a 31-byte key was accepted")
	}
}
