package router

import (
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// seedNotes writes n notes titled "seed 0" … for name, straight into the
// user's file in one statement (fast even under -race), in the layout
// notes.Notebook writes. Their times rise by one second every third note,
// so that notes share timestamps across page boundaries, and all are older
// than any note the API writes. Every even note's body holds "even".
func seedNotes(t *testing.T, r *rig, name string, n int) {
	t.Helper()
	ctx := context.Background()
	tn, err := r.pool.Directory().Lookup(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	s, release, err := r.pool.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = s.ExecContext(ctx, `WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < ?)
		INSERT INTO notes (title, body, created_at, updated_at)
		SELECT 'seed ' || n, iif(n % 2 = 0, 'even', 'odd'), ts, ts
		FROM (SELECT n, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', '2020-01-01', '+' || (n / 3) || ' seconds') AS ts FROM i)`, n)
	if err != nil {
		t.Fatal(err)
	}
}

// listAll follows next_cursor from the first page of query to the last,
// calling between after each page, and returns every note listed.
func (c *client) listAll(query url.Values, between func(page int)) []noteJSON {
	c.r.t.Helper()
	query = maps.Clone(query)
	var all []noteJSON
	for page := 0; ; page++ {
		rec := c.do("GET", "/api/v1/notes?"+query.Encode(), nil)
		if rec.Code != http.StatusOK {
			c.r.t.Fatalf("page %d (%s): %d %s", page, query.Encode(), rec.Code, rec.Body)
		}
		got := decode[notesJSON](c.r.t, rec)
		all = append(all, got.Notes...)
		if got.NextCursor == nil {
			return all
		}
		if len(got.Notes) == 0 || page > 1000 {
			c.r.t.Fatalf("page %d: %d notes and a next cursor", page, len(got.Notes))
		}
		query.Set("cursor", *got.NextCursor)
		if between != nil {
			between(page)
		}
	}
}

// wantEachOnceNewestFirst checks that got holds exactly the notes whose
// titles want names, each once, newest first.
func wantEachOnceNewestFirst(t *testing.T, got []noteJSON, want map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	for i, n := range got {
		if seen[n.Title] {
			t.Fatalf("note %q listed twice", n.Title)
		}
		seen[n.Title] = true
		if !want[n.Title] {
			t.Fatalf("note %q listed, which it should not be", n.Title)
		}
		if i > 0 {
			prev := got[i-1]
			if prev.CreatedAt < n.CreatedAt || prev.CreatedAt == n.CreatedAt && prev.ID < n.ID {
				t.Fatalf("%+v listed before %+v: not newest first", prev, n)
			}
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("listed %d notes; want %d", len(seen), len(want))
	}
}

func TestListingPagesReachEveryNoteExactlyOnce(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	const n = 1800
	seedNotes(t, r, "alice", n)
	all, even := map[string]bool{}, map[string]bool{}
	for i := range n {
		all[fmt.Sprint("seed ", i)] = true
		if i%2 == 0 {
			even[fmt.Sprint("seed ", i)] = true
		}
	}
	for _, limit := range []string{"", "1000", "299"} {
		q := url.Values{}
		if limit != "" {
			q.Set("limit", limit)
		}
		wantEachOnceNewestFirst(t, c.listAll(q, nil), all)
		q.Set("q", "even")
		wantEachOnceNewestFirst(t, c.listAll(q, nil), even)
	}

	// Notes written between pages are newer than every listed note, so
	// never on a later page, which lists older notes only.
	added := 0
	got := c.listAll(url.Values{"q": {"even"}, "limit": {"100"}}, func(page int) {
		c.createNote(fmt.Sprint("added after page ", page), "even newer")
		added++
	})
	wantEachOnceNewestFirst(t, got, even)
	if added != 8 {
		t.Fatalf("%d pages of 100 for 900 notes", added+1)
	}
	got = c.listAll(url.Values{}, func(page int) { c.createNote("newer still", "") })
	if len(got) != n+added {
		t.Fatalf("listed %d notes; want %d", len(got), n+added)
	}
}

func TestLastPageHasNullCursor(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	rec := c.do("GET", "/api/v1/notes", nil)
	if !strings.Contains(rec.Body.String(), `"next_cursor":null`) {
		t.Fatalf("empty listing: %s", rec.Body)
	}
	for i := range 4 {
		c.createNote(fmt.Sprint("n", i), "")
	}
	// A page that ends exactly at the last note is the last page.
	if got := decode[notesJSON](t, c.do("GET", "/api/v1/notes?limit=4", nil)); got.NextCursor != nil || len(got.Notes) != 4 {
		t.Fatalf("limit 4 of 4: %d notes, cursor %v", len(got.Notes), got.NextCursor)
	}
	got := decode[notesJSON](t, c.do("GET", "/api/v1/notes?limit=3", nil))
	if got.NextCursor == nil || len(got.Notes) != 3 {
		t.Fatalf("limit 3 of 4: %d notes, cursor %v", len(got.Notes), got.NextCursor)
	}
	last := decode[notesJSON](t, c.do("GET", "/api/v1/notes?limit=3&cursor="+url.QueryEscape(*got.NextCursor), nil))
	if last.NextCursor != nil || len(last.Notes) != 1 || last.Notes[0].Title != "n0" {
		t.Fatalf("last page: %+v", last)
	}
}

func TestBadCursorsAreBadRequests(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	for i := range 3 {
		c.createNote(fmt.Sprint("word ", i), "")
	}
	list := decode[notesJSON](t, c.do("GET", "/api/v1/notes?limit=1", nil))
	search := decode[notesJSON](t, c.do("GET", "/api/v1/notes?limit=1&q=word", nil))
	if list.NextCursor == nil || search.NextCursor == nil {
		t.Fatal("no cursors to spoil")
	}
	good := *list.NextCursor
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatalf("cursor %q is not base64url: %v", good, err)
	}
	flipped := []byte(raw)
	flipped[len(flipped)/2] ^= 1
	for name, query := range map[string]string{
		"empty":               "cursor=",
		"garbage":             "cursor=garbage",
		"not base64":          "cursor=" + url.QueryEscape(strings.Repeat("!", len(good))),
		"tampered":            "cursor=" + base64.RawURLEncoding.EncodeToString(flipped),
		"truncated":           "cursor=" + good[:len(good)-1],
		"too long":            "cursor=" + good + "A",
		"padded":              "cursor=" + url.QueryEscape(base64.URLEncoding.EncodeToString(raw)),
		"standard base64":     "cursor=" + url.QueryEscape(base64.StdEncoding.EncodeToString(raw)),
		"two cursors":         "cursor=" + good + "&cursor=" + good,
		"list cursor, q":      "q=word&cursor=" + good,
		"search cursor, no q": "cursor=" + *search.NextCursor,
		"other search":        "q=other&cursor=" + *search.NextCursor,
		"huge":                "cursor=" + strings.Repeat("A", 5000),
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, c.do("GET", "/api/v1/notes?"+query, nil), 400, "bad_request")
		})
	}
	// The HTML list shows a bad cursor beside the search box.
	wantPage(t, c.do("GET", "/notes?cursor=garbage", nil), 400, "cursor")
	// The same words, spaced differently, are the same search.
	rec := c.do("GET", "/api/v1/notes?limit=1&q="+url.QueryEscape("  word ")+"&cursor="+*search.NextCursor, nil)
	if got := decode[notesJSON](t, rec); len(got.Notes) != 1 || got.Notes[0].Title != "word 1" || got.NextCursor == nil {
		t.Fatalf("second page of the search: %+v", got)
	}
}

var olderLink = regexp.MustCompile(`<a [^>]*href="(/notes\?[^"]*)"[^>]*>Older notes</a>`)

func TestHTMLOlderNotesLinkCarriesCursorAndSearch(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	seedNotes(t, r, "alice", 120)
	seen := map[string]bool{}
	path := "/notes?q=even"
	for page := 0; ; page++ {
		body := wantPage(t, c.do("GET", path, nil), 200, `value="even"`)
		for _, m := range regexp.MustCompile(`<h3>(seed \d+)</h3>`).FindAllStringSubmatch(body, -1) {
			if seen[m[1]] {
				t.Fatalf("%s shown twice", m[1])
			}
			seen[m[1]] = true
		}
		link := olderLink.FindStringSubmatch(body)
		if link == nil {
			break
		}
		if page > 5 {
			t.Fatal("too many pages")
		}
		path = html.UnescapeString(link[1])
		u, err := url.Parse(path)
		if err != nil || u.Query().Get("q") != "even" || u.Query().Get("cursor") == "" {
			t.Fatalf("older link %q lacks the search or the cursor", path)
		}
	}
	if len(seen) != 60 {
		t.Fatalf("the pages showed %d notes; want 60", len(seen))
	}
}
