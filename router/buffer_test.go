package router

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A buffered answer goes out with its length, never chunked, whether
// net/http measures it (a short one) or sendTo says it (a long one, and
// a HEAD answer's, whose body is dropped).
func TestBufferedAnswersCarryTheirLength(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("measured", "correct horse")
	short := c.createNote("short", "a few words")
	long := c.createNote("long", strings.Repeat("many words ", 400))
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close)

	for _, tt := range []struct {
		method string
		id     int64
	}{{"GET", short.ID}, {"GET", long.ID}, {"HEAD", short.ID}, {"HEAD", long.ID}} {
		path := fmt.Sprintf("/api/v1/notes/%d", tt.id)
		get := c.do("GET", path, nil)
		req, err := http.NewRequest(tt.method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(c.cookie)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d, %v", tt.method, path, res.StatusCode, err)
		}
		if len(res.TransferEncoding) != 0 || res.ContentLength != int64(get.Body.Len()) {
			t.Errorf("%s of a %d-byte answer: Content-Length %d, Transfer-Encoding %q",
				tt.method, get.Body.Len(), res.ContentLength, res.TransferEncoding)
		}
		if tt.method == "GET" && string(body) != get.Body.String() {
			t.Errorf("GET %s: body differs from the in-process answer", path)
		}
	}
}
