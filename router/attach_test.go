package router

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// No request can make SQLite attach another file: search text, note
// titles and bodies holding ATTACH (and VACUUM INTO, which attaches too)
// statements aimed at another user's file or a new one are stored and
// searched as plain words, with normal answers, and no file appears.
func TestNoRequestCanAttachAnotherFile(t *testing.T) {
	r := newRig(t, rigOptions{})
	alice, bob := r.client(), r.client()
	alice.signup("alice", "correct horse")
	bob.signup("bob", "battery staple")
	bob.createNote("bob's secret", "only bob")
	tn, err := r.pool.Directory().Lookup(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	bobs := filepath.Join(r.dir, "tenants", tn.ID[:2], tn.ID+".db")
	fresh := filepath.Join(t.TempDir(), "made-by-attach.db")
	var attacks []string
	for _, target := range []string{bobs, fresh} {
		attacks = append(attacks,
			fmt.Sprintf("ATTACH DATABASE '%s' AS other", target),
			fmt.Sprintf("'); ATTACH DATABASE '%s' AS other; --", target),
			fmt.Sprintf(`" OR 1=1; ATTACH '%s' AS x; SELECT * FROM x.notes; --`, target),
			fmt.Sprintf("x'; VACUUM INTO '%s'; --", target),
			fmt.Sprintf("\"attach\" * NEAR(attach database) OR title:'%s'", target),
		)
	}
	alice.createNote("groceries", "milk, eggs")
	for i, attack := range attacks {
		n := alice.createNote(fmt.Sprintf("attack %d", i), attack)
		if n.Body != attack {
			t.Fatalf("note body stored as %q; want %q", n.Body, attack)
		}
		rec := alice.do("GET", "/api/v1/notes?q="+url.QueryEscape(attack), nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("search %q: %d %s", attack, rec.Code, rec.Body)
		}
		for _, found := range decode[notesJSON](t, rec).Notes {
			if !strings.HasPrefix(found.Title, "attack ") && found.Title != found.Body {
				t.Fatalf("search %q found %+v, which holds none of its words", attack, found)
			}
		}
		rec = alice.do("PUT", fmt.Sprintf("/api/v1/notes/%d", n.ID), map[string]string{"title": attack, "body": attack})
		if rec.Code != http.StatusOK {
			t.Fatalf("update to %q: %d %s", attack, rec.Code, rec.Body)
		}
	}
	// The words are searched as words: the first attack's note is found by
	// the words it holds.
	got := decode[notesJSON](t, alice.do("GET", "/api/v1/notes?q="+url.QueryEscape("attach database other"), nil))
	if len(got.Notes) == 0 {
		t.Fatal("searching the words of an ATTACH statement found nothing")
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Fatalf("%s exists: a request attached a new file (%v)", fresh, err)
	}
	if b := decode[notesJSON](t, bob.do("GET", "/api/v1/notes", nil)); len(b.Notes) != 1 || b.Notes[0].Title != "bob's secret" {
		t.Fatalf("bob's notes = %+v", b.Notes)
	}
	if strings.Contains(r.logs.String(), "level=ERROR") {
		t.Fatalf("an attack caused an error:\n%s", r.logs)
	}
}
