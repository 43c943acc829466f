package cluster

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// How long a forwarded exchange may take: the owner's answer has to start
// within the timeout, and its body may go on for as long as it keeps
// coming (see also forward_test.go).

// trickle is an owner that answers chunks of 4 KiB, Content-Length said,
// flushing each and pausing gap before the next. After the first chunk
// it waits for stall, if not nil, to close, or the request to end (which
// it sends to ended, if not nil).
func trickle(t *testing.T, chunks int, gap time.Duration, stall chan struct{}, ended chan<- error) *httptest.Server {
	t.Helper()
	chunk := bytes.Repeat([]byte("x"), 4<<10)
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(chunks*len(chunk)))
		for i := range chunks {
			if i == 1 && stall != nil {
				select {
				case <-stall:
				case <-r.Context().Done():
				}
				if ended != nil {
					ended <- r.Context().Err()
				}
				return
			}
			if i > 0 {
				time.Sleep(gap) // the owner's pace, not a wait for an event
			}
			w.Write(chunk)           //nolint:errcheck // the test reads what arrived
			w.(http.Flusher).Flush() //nolint:forcetypeassert // net/http's writer flushes
		}
	}))
	t.Cleanup(owner.Close)
	return owner
}

// A forwarded body that keeps coming is passed on whole however long it
// takes: the Forwarder's timeout used to bound the whole exchange, so a
// large export through a node other than its owner was cut off after
// 30 s at any pace.
func TestAForwardedBodyThatKeepsComingIsNotCutOff(t *testing.T) {
	const timeout = 150 * time.Millisecond
	owner := trickle(t, 20, 40*time.Millisecond, nil, nil) // 800 ms in all
	a := front(t, quietForwarder(t, ForwarderConfig{Timeout: timeout}), owner.URL)
	start := time.Now()
	resp, err := http.Get(a.URL + "/api/v1/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != 20<<12 {
		t.Fatalf("read %d of %d bytes in %v: %v", len(b), 20<<12, time.Since(start), err)
	}
	if took := time.Since(start); took < 4*timeout {
		t.Fatalf("the answer took %v: the test shows nothing", took)
	}
}

// A forwarded body that stops coming is cut off once nothing has come for
// the timeout, and the owner's request ends with it.
func TestAForwardedBodyThatStopsComingIsCutOff(t *testing.T) {
	const timeout = 150 * time.Millisecond
	stall, ended := make(chan struct{}), make(chan error, 1)
	defer close(stall)
	owner := trickle(t, 20, 0, stall, ended)
	a := front(t, quietForwarder(t, ForwarderConfig{Timeout: timeout}), owner.URL)
	start := time.Now()
	resp, err := http.Get(a.URL + "/api/v1/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(b) >= 20<<12 {
		t.Fatalf("read %d bytes: %v; want a cut-off answer", len(b), err)
	}
	if took := time.Since(start); took > waitLimit/2 {
		t.Fatalf("cut off after %v; want about %v", took, timeout)
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the owner's request went on after the forward was cut off")
		}
	case <-time.After(waitLimit):
		t.Fatal("the owner's request never ended")
	}
}

// A client that sends ForwardedByHeader itself gets the 503 a request
// forwarded twice gets, but not the mark meant for the node that
// forwarded it (NotServingHeader): only a hop signed with the cluster's
// key is a node's.
func TestAClientClaimingToBeANodeGetsNoNotServingMark(t *testing.T) {
	h := testHop(t, 1, nil)
	owner := httptest.NewServer(http.NotFoundHandler())
	defer owner.Close()
	a := front(t, quietForwarder(t, ForwarderConfig{Hop: h}), owner.URL)
	for _, tc := range []struct {
		name string
		sign bool
		mark string
	}{
		{"a client", false, ""},
		{"a node", true, "1"},
	} {
		req, _ := http.NewRequest("GET", a.URL+"/api/v1/me", nil)
		req.Header.Set(ForwardedByHeader, "c")
		if tc.sign {
			h.sign(req, "203.0.113.9")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get(NotServingHeader); got != tc.mark {
			t.Errorf("%s's request forwarded already: %s %q, want %q", tc.name, NotServingHeader, got, tc.mark)
		}
		checkUnavailable(t, resp)
	}
}
