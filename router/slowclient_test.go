package router

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// failAfter bounds how long a test waits for something that, when the
// code is right, happens at once; it only decides how a broken build fails.
const failAfter = 30 * time.Second

// bigAccount signs up a user whose notes list and export are each far
// larger than a loopback connection's socket buffers can absorb.
func bigAccount(t *testing.T, r *rig, name string) *client {
	t.Helper()
	c := r.client()
	c.signup(name, "correct horse")
	body := strings.Repeat("abcdefgh", 125_000) // 1 MB, one token for FTS5
	for i := range 12 {
		c.createNote(fmt.Sprintf("big %d", i), body)
	}
	return c
}

// stalledGET sends GET path as c over a new connection, reads only the status line and headers, and returns the response
// whose body the caller reads later, if at all.
func stalledGET(t *testing.T, srv *httptest.Server, c *client, path string) (*http.Response, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: cubby\r\nCookie: %s=%s\r\n\r\n", path, c.cookie.Name, c.cookie.Value)
	res, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	return res, conn
}

// deleteAccountPromptly deletes c's account and fails the test if that
// waits on something (the slow client's hold on the handle).
func deleteAccountPromptly(t *testing.T, c *client) {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		done <- c.do("DELETE", "/api/v1/account", map[string]string{"password": "correct horse"}).Code
	}()
	select {
	case code := <-done:
		if code != http.StatusNoContent {
			t.Fatalf("delete account: %d", code)
		}
	case <-time.After(failAfter):
		t.Fatal("deleting the account waited for a client that does not read its answer")
	}
}

// A client that stops reading a large answer holds its connection, not
// the user's handle: the answer is built and the handle released before it
// is written, so the owner can delete the account meanwhile, and the
// stalled answer is still delivered whole.
func TestSlowReaderDoesNotHoldTheTenantHandle(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := bigAccount(t, r, "slowpoke")
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close) // after the client's connection closes
	res, _ := stalledGET(t, srv, c, "/api/v1/notes?limit=1000")
	deleteAccountPromptly(t, c)
	if open := r.pool.Stats().Open; open != 0 {
		t.Fatalf("%d handle(s) open after the account was deleted", open)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil || int64(len(b)) != res.ContentLength || res.ContentLength < 12_000_000 {
		t.Fatalf("read %d of %d bytes: %v", len(b), res.ContentLength, err)
	}
}

// Export takes its snapshot, lets go of the handle and then streams the
// copy: the owner can delete the account while a client is not reading
// the export, which still arrives whole afterwards.
func TestExportStreamsAfterReleasingTheHandle(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := bigAccount(t, r, "exporter")
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close) // after the client's connection closes
	res, _ := stalledGET(t, srv, c, "/api/v1/export")
	deleteAccountPromptly(t, c)
	b, err := io.ReadAll(res.Body)
	if err != nil || int64(len(b)) != res.ContentLength || res.ContentLength < 12_000_000 {
		t.Fatalf("read %d of %d bytes: %v", len(b), res.ContentLength, err)
	}
	if !bytes.HasPrefix(b, []byte("SQLite format 3\x00")) {
		t.Fatalf("the export is not a SQLite file: %q", b[:16])
	}
}

// A client that never reads its answer is cut off once the write deadline
// passes, instead of holding its connection (and goroutine) for ever.
func TestWriteDeadlineEndsAStalledConnection(t *testing.T) {
	r := newRig(t, rigOptions{writeTimeout: 50 * time.Millisecond})
	c := bigAccount(t, r, "stalled")
	srv := httptest.NewUnstartedServer(r.app)
	closed := make(chan struct{})
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			close(closed)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close) // after the client's connection closes
	res, _ := stalledGET(t, srv, c, "/api/v1/notes?limit=1000")
	select {
	case <-closed:
	case <-time.After(failAfter):
		t.Fatal("the server still holds a connection that reads nothing")
	}
	b, err := io.ReadAll(res.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || int64(len(b)) >= res.ContentLength {
		t.Fatalf("read %d of %d bytes: %v; want a cut-off answer", len(b), res.ContentLength, err)
	}
}
