package notes_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cubbyhq/cubby/notes"
	"github.com/cubbyhq/cubby/tenant"
)

func TestMatchExprQuotesEveryWord(t *testing.T) {
	cases := map[string]string{
		"":                 "",
		"   ":              "",
		"hello":            `"hello"`,
		"hello world":      `"hello" "world"`,
		`say "hi"`:         `"say" """hi"""`,
		"NEAR(a b)":        `"NEAR(a" "b)"`,
		"a AND OR b":       `"a" "AND" "OR" "b"`,
		"title:x -y ^z *":  `"title:x" "-y" "^z" "*"`,
		"nul\x00in\x01it":  `"nul" "in" "it"`,
		"bad\xffutf8":      `"bad" "utf8"`,
		"tab\tnew\nline":   `"tab" "new" "line"`,
		"über  café":       `"über" "café"`,
		"emoji 🙂":          `"emoji" "🙂"`,
		"\u2028sep\u00a0x": `"sep" "x"`,
	}
	for q, want := range cases {
		got, err := notes.MatchExpr(q)
		if err != nil || got != want {
			t.Errorf("MatchExpr(%q) = %q, %v; want %q", q, got, err, want)
		}
	}
}

func TestMatchExprRefusesHugeQueries(t *testing.T) {
	for _, q := range []string{
		strings.Repeat("x", notes.MaxQueryBytes+1),
		strings.Repeat("a ", notes.MaxQueryWords+1),
	} {
		if _, err := notes.MatchExpr(q); !errors.Is(err, notes.ErrBadQuery) {
			t.Errorf("MatchExpr(%d bytes) = %v; want ErrBadQuery", len(q), err)
		}
	}
}

func TestSearchRequiresEveryWordNewestFirst(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil, "alice")
	nb := notes.Notebook{Now: tickingClock()}
	for _, d := range []notes.Draft{
		{Title: "apple pie", Body: "with cinnamon"},
		{Title: "apple", Body: "crumble"},
		{Title: "Café menu", Body: "x-ray NEAR the door"},
		{Title: "pear", Body: "apple and cinnamon"},
	} {
		if _, err := nb.Create(ctx, s, d); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]string{
		"apple":           "pear apple apple pie",
		"apple cinnamon":  "pear apple pie",
		"APPLE Crumble":   "apple",
		"cafe":            "Café menu",
		"x-ray":           "Café menu",
		"near door":       "Café menu",
		"apple -cinnamon": "pear apple pie", // "-" is part of the word, not NOT
		"nothing":         "",
		"":                "pear Café menu apple apple pie",
	}
	for q, want := range cases {
		page, err := nb.Search(ctx, s, q, 10, "")
		if err != nil {
			t.Errorf("Search(%q): %v", q, err)
			continue
		}
		if titles(page.Notes) != want {
			t.Errorf("Search(%q) = %q; want %q", q, titles(page.Notes), want)
		}
	}
}

func TestSearchHostileInputNeverFails(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil, "alice")
	nb := notes.Notebook{}
	nb.Create(ctx, s, notes.Draft{Title: "hello", Body: "world"})
	for _, q := range hostileQueries {
		if _, err := nb.Search(ctx, s, q, 5, ""); err != nil {
			t.Errorf("Search(%q): %v", q, err)
		}
	}
}

// hostileQueries are FTS5 syntax, quotes and odd text that must all be
// searched as plain words.
var hostileQueries = []string{
	`"`, `""`, `"""`, `'`, `*`, `a*`, `*a`, `NEAR(`, `NEAR(a b, 2)`, `AND OR`, `NOT`, `a NOT b`,
	`-`, `-a`, `^`, `^a`, `:`, `title:`, `title:hello`, `{title body}:x`, `(`, `)`, `()`, `+`,
	`a OR`, `"unterminated`, "\x00", "a\x00b", "\xff\xfe", "\u202e", "日本語", "🙂",
	`col*umn`, `\`, `\"`, `;DROP TABLE notes;--`, `%`, `_`, `[`, `]`, `{`, `}`,
}

func FuzzMatchExpr(f *testing.F) {
	for _, q := range hostileQueries {
		f.Add(q)
	}
	ctx := context.Background()
	s := newStore(f, nil, "fuzz")
	nb := notes.Notebook{}
	nb.Create(ctx, s, notes.Draft{Title: "hello world", Body: "some body"})
	f.Fuzz(func(t *testing.T, q string) {
		expr, err := notes.MatchExpr(q)
		if err != nil {
			if !errors.Is(err, notes.ErrBadQuery) {
				t.Fatalf("MatchExpr(%q): unexpected error kind %v", q, err)
			}
			return
		}
		words := unquoteWords(t, expr)
		if len(words) > notes.MaxQueryWords || !utf8.ValidString(expr) {
			t.Fatalf("MatchExpr(%q) = %q: %d words, valid UTF-8 %v", q, expr, len(words), utf8.ValidString(expr))
		}
		// The words are q, in order, less every separator and nothing else.
		kept := strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
				return -1
			}
			return r
		}, q)
		if strings.Join(words, "") != kept {
			t.Fatalf("MatchExpr(%q) = %q: words %q are not q's", q, expr, words)
		}
		found, err := nb.Search(ctx, s, q, 5, "")
		if err != nil {
			t.Fatalf("Search(%q) via %q: %v", q, expr, err)
		}
		// Plain words find the one note exactly when each is one of its words.
		if len(words) > 0 && allAlnum(words) {
			want := true
			for _, w := range words {
				want = want && slices.Contains([]string{"hello", "world", "some", "body"}, strings.ToLower(w))
			}
			if (len(found.Notes) == 1) != want {
				t.Fatalf("Search(%q) found %d notes; want the note: %v", q, len(found.Notes), want)
			}
		}
	})
}

// unquoteWords splits a MatchExpr result back into its words, failing
// unless it is FTS5 strings separated by single spaces.
func unquoteWords(t *testing.T, expr string) []string {
	t.Helper()
	var words []string
	for rest := expr; rest != ""; {
		if rest[0] != '"' {
			t.Fatalf("%q: a word does not start with a quote", expr)
		}
		end := 1
		for ; end < len(rest); end++ {
			if rest[end] == '"' {
				if end+1 < len(rest) && rest[end+1] == '"' {
					end++ // an escaped quote
					continue
				}
				break
			}
		}
		if end >= len(rest) || end == 1 {
			t.Fatalf("%q: an unterminated or empty string", expr)
		}
		words = append(words, strings.ReplaceAll(rest[1:end], `""`, `"`))
		rest = rest[end+1:]
		if rest != "" {
			if rest[0] != ' ' || len(rest) == 1 {
				t.Fatalf("%q: words not separated by one space", expr)
			}
			rest = rest[1:]
		}
	}
	return words
}

func allAlnum(words []string) bool {
	for _, w := range words {
		for i := 0; i < len(w); i++ {
			if c := w[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				return false
			}
		}
	}
	return true
}

// pageThrough lists every page of q, calling between after each, and
// returns the titles in order.
func pageThrough(t *testing.T, nb notes.Notebook, s *tenant.Store, q string, limit int, between func()) []string {
	t.Helper()
	var out []string
	after := ""
	for range 1000 {
		page, err := nb.Search(context.Background(), s, q, limit, after)
		if err != nil {
			t.Fatalf("Search(%q, after %q): %v", q, after, err)
		}
		for _, n := range page.Notes {
			out = append(out, n.Title)
		}
		if page.Next == "" {
			return out
		}
		after = page.Next
		if between != nil {
			between()
		}
	}
	t.Fatal("no last page")
	return nil
}

func TestPagesListEachNoteOnceWhenTimesTie(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, nil, "alice")
	fixed := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	nb := notes.Notebook{Now: func() time.Time { return fixed }}
	var want, wantEven []string
	for i := range 250 {
		title := fmt.Sprint("tie ", i)
		if _, err := nb.Create(ctx, s, notes.Draft{Title: title, Body: []string{"even", "odd"}[i%2]}); err != nil {
			t.Fatal(err)
		}
		want = append([]string{title}, want...)
		if i%2 == 0 {
			wantEven = append([]string{title}, wantEven...)
		}
	}
	for _, limit := range []int{7, 100, 125, 250, 1000} {
		if got := pageThrough(t, nb, s, "", limit, nil); !slices.Equal(got, want) {
			t.Fatalf("limit %d: pages list %d notes, not each once newest first", limit, len(got))
		}
		if got := pageThrough(t, nb, s, "even", limit, nil); !slices.Equal(got, wantEven) {
			t.Fatalf("limit %d: search pages list %d notes, not each once newest first", limit, len(got))
		}
	}
	// A note written between pages is newer than the cursor (a larger id),
	// so not listed by the pages that follow, even when the clock says it
	// is older (a clock set back): a listing is in the order notes were
	// made. A listing started afresh has them first, newest first.
	older := notes.Notebook{Now: func() time.Time { return fixed.Add(-time.Hour) }}
	n := 0
	got := pageThrough(t, nb, s, "even", 40, func() {
		n++
		nb.Create(ctx, s, notes.Draft{Title: fmt.Sprint("same time ", n), Body: "even"})
		older.Create(ctx, s, notes.Draft{Title: fmt.Sprint("older ", n), Body: "even"})
	})
	if !slices.Equal(got, wantEven) {
		t.Fatalf("with notes added between pages, the pages listed %d notes, not the %d there were when they began", len(got), len(wantEven))
	}
	var added []string
	for i := n; i >= 1; i-- {
		added = append(added, fmt.Sprint("older ", i), fmt.Sprint("same time ", i))
	}
	if got := pageThrough(t, nb, s, "even", 40, nil); !slices.Equal(got, append(added, wantEven...)) {
		t.Fatalf("a listing afresh begins %v; want the notes added, in the order made, newest first: %v", got[:min(len(got), 6)], added[:min(len(added), 6)])
	}
}
