package router

import (
	"net/http"
	"testing"
)

// TestAListingQueryThatCannotBeReadIsABadRequest: a listing's query string
// that is not valid (a broken %-escape, a ';', which Go no longer reads as
// a separator) is 400 on the API and the notes page alike. URL.Query drops
// such a pair without a word, so a cursor that cannot be read started the
// listing again from its first page (a client following next_cursor then
// loops), and a search that cannot be read listed every note as if it had
// matched.
func TestAListingQueryThatCannotBeReadIsABadRequest(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	seedNotes(t, r, "alice", 3)
	for _, query := range []string{"cursor=%zz", "cursor=AgAAAAAAAAAE0Kx1oQ%", "q=%zz", "q=apple;pear", "limit=1%", "limit=2;cursor=x"} {
		if rec := c.do("GET", "/api/v1/notes?"+query, nil); rec.Code != http.StatusBadRequest {
			t.Errorf("GET /api/v1/notes?%s: %d; want 400 (body %.120s)", query, rec.Code, rec.Body)
		}
		if rec := c.do("GET", "/notes?"+query, nil); rec.Code != http.StatusBadRequest {
			t.Errorf("GET /notes?%s: %d; want 400", query, rec.Code)
		}
	}
}
