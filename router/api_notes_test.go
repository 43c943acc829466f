package router

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestNotesCRUD(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")

	rec := c.do("POST", "/api/v1/notes", `{"title":"Groceries","body":"milk"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	n := decode[noteJSON](t, rec)
	if loc := rec.Header().Get("Location"); loc != fmt.Sprintf("/api/v1/notes/%d", n.ID) {
		t.Fatalf("Location %q for %+v", loc, n)
	}
	if _, err := time.Parse(time.RFC3339, n.CreatedAt); err != nil || n.Title != "Groceries" || n.Body != "milk" {
		t.Fatalf("note %+v (%v)", n, err)
	}
	path := fmt.Sprintf("/api/v1/notes/%d", n.ID)
	if got := decode[noteJSON](t, c.do("GET", path, nil)); got != n {
		t.Fatalf("get = %+v; want %+v", got, n)
	}
	rec = c.do("PUT", path, `{"title":"Shopping"}`)
	up := decode[noteJSON](t, rec)
	if rec.Code != http.StatusOK || up.Title != "Shopping" || up.Body != "" || up.CreatedAt != n.CreatedAt {
		t.Fatalf("update: %d %+v", rec.Code, up)
	}
	if rec := c.do("DELETE", path, nil); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("delete: %d %q", rec.Code, rec.Body)
	}
	wantError(t, c.do("GET", path, nil), 404, "not_found")
	wantError(t, c.do("PUT", path, `{"title":"x"}`), 404, "not_found")
	wantError(t, c.do("DELETE", path, nil), 404, "not_found")
	for _, bad := range []string{"0", "-1", "abc", "1.5", "+1", "99999999999999999999", "%20"} {
		wantError(t, c.do("GET", "/api/v1/notes/"+bad, nil), 404, "not_found")
	}
}

func TestNoteValidation(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	keep := c.createNote("keep", "")
	for name, body := range map[string]string{
		"no title":    `{"body":"x"}`,
		"blank title": `{"title":"  \n\t"}`,
		"long title":  `{"title":"` + strings.Repeat("é", 201) + `"}`,
		"long body":   `{"title":"t","body":"` + strings.Repeat("x", 1<<20+1) + `"}`,
		"zero-width":  `{"title":"\u200b"}`,
		"nul":         `{"title":"\u0000"}`,
		"bell":        `{"title":" \u0007 "}`,
		"joiner, BOM": `{"title":"\u2060\ufeff"}`,
		"nul in body": `{"title":"t","body":"a\u0000b"}`,
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, c.do("POST", "/api/v1/notes", body), 422, "invalid_note")
			wantError(t, c.do("PUT", fmt.Sprintf("/api/v1/notes/%d", keep.ID), body), 422, "invalid_note")
		})
	}
	list := decode[notesJSON](t, c.do("GET", "/api/v1/notes", nil))
	if len(list.Notes) != 1 || list.Notes[0] != keep {
		t.Fatalf("refused writes changed the notes: %+v", list.Notes)
	}
	rec := c.do("POST", "/api/v1/notes", `{"title":"`+strings.Repeat("é", 200)+`","body":"`+strings.Repeat("x", 1<<20)+`"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("a note at the limits: %d", rec.Code)
	}
}

type notesJSON struct {
	Notes      []noteJSON `json:"notes"`
	NextCursor *string    `json:"next_cursor"`
}

func TestListNewestFirstWithLimit(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	if got := decode[notesJSON](t, c.do("GET", "/api/v1/notes", nil)); got.Notes == nil || len(got.Notes) != 0 {
		t.Fatalf("empty list = %+v; want []", got)
	}
	for i := range 5 {
		c.createNote(fmt.Sprint("note ", i), "")
	}
	got := decode[notesJSON](t, c.do("GET", "/api/v1/notes?limit=3", nil))
	if len(got.Notes) != 3 || got.Notes[0].Title != "note 4" || got.Notes[2].Title != "note 2" {
		t.Fatalf("list = %+v", got.Notes)
	}
	for _, bad := range []string{"0", "-1", "1001", "abc", "", "1e3", "2.5"} {
		wantError(t, c.do("GET", "/api/v1/notes?limit="+url.QueryEscape(bad), nil), 400, "bad_request")
	}
	if got := decode[notesJSON](t, c.do("GET", "/api/v1/notes?limit=1000", nil)); len(got.Notes) != 5 {
		t.Fatalf("limit 1000 gave %d notes", len(got.Notes))
	}
}

func TestSearch(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	c.createNote("apple pie", "with cinnamon")
	c.createNote("pear", "apple and cinnamon")
	c.createNote("plum", "nothing else")
	cases := map[string]string{
		"apple":          "pear|apple pie",
		"apple cinnamon": "pear|apple pie",
		"CINNAMON pie":   "apple pie",
		"plum apple":     "",
		"":               "plum|pear|apple pie",
	}
	for q, want := range cases {
		got := decode[notesJSON](t, c.do("GET", "/api/v1/notes?q="+url.QueryEscape(q), nil))
		var titles []string
		for _, n := range got.Notes {
			titles = append(titles, n.Title)
		}
		if strings.Join(titles, "|") != want {
			t.Errorf("q=%q: %v; want %s", q, titles, want)
		}
	}
}

func TestSearchHostileQueriesNever500(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	c.createNote("hello", "world")
	for _, q := range []string{
		`"`, `""`, `*`, `a*`, `NEAR(`, `NEAR(a b, 2)`, `AND OR`, `AND`, `NOT a`, `-`, `-hello`, `^`, `^hello`,
		`:`, `title:hello`, `{title}:x`, `(`, `)`, `'`, `\`, "\x00", "hel\x00lo", "\xff", "日本語", "🙂 ñ",
		`;DROP TABLE notes;--`, `%`, `+`, "\u202e",
	} {
		rec := c.do("GET", "/api/v1/notes?q="+url.QueryEscape(q), nil)
		if rec.Code != http.StatusOK {
			t.Errorf("q=%q: %d %s", q, rec.Code, rec.Body)
		}
	}
	wantError(t, c.do("GET", "/api/v1/notes?q="+strings.Repeat("x", 1025), nil), 400, "bad_request")
	wantError(t, c.do("GET", "/api/v1/notes?q="+url.QueryEscape(strings.Repeat("a ", 33)), nil), 400, "bad_request")
}

func TestUsersAreIsolated(t *testing.T) {
	r := newRig(t, rigOptions{})
	alice, bob := r.client(), r.client()
	alice.signup("alice", "correct horse")
	bob.signup("bob", "battery staple")
	var secret noteJSON
	for i := range 3 {
		secret = alice.createNote(fmt.Sprint("alice secret ", i), "only mine")
	}
	mine := bob.createNote("bob's", "")
	path := fmt.Sprintf("/api/v1/notes/%d", secret.ID)
	wantError(t, bob.do("GET", path, nil), 404, "not_found")
	wantError(t, bob.do("PUT", path, `{"title":"stolen"}`), 404, "not_found")
	wantError(t, bob.do("DELETE", path, nil), 404, "not_found")
	if got := decode[notesJSON](t, bob.do("GET", "/api/v1/notes", nil)); len(got.Notes) != 1 || got.Notes[0] != mine {
		t.Fatalf("bob's list = %+v", got.Notes)
	}
	if got := decode[notesJSON](t, bob.do("GET", "/api/v1/notes?q=secret", nil)); len(got.Notes) != 0 {
		t.Fatalf("bob's search found %+v", got.Notes)
	}
	if got := decode[noteJSON](t, alice.do("GET", path, nil)); got != secret {
		t.Fatalf("alice's note changed: %+v", got)
	}
	if got := decode[notesJSON](t, alice.do("GET", "/api/v1/notes", nil)); len(got.Notes) != 3 {
		t.Fatalf("alice has %d notes", len(got.Notes))
	}
}
