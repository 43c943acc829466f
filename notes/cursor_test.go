package notes

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCursorRoundTripsAndIsBoundToItsSearch(t *testing.T) {
	c := cursor{createdAt: time.Date(2026, 11, 29, 8, 45, 1, 123456789, time.UTC), id: 1800}
	for _, expr := range []string{"", `"apple"`, `"apple" "pie"`} {
		s := c.encode(expr)
		if len(s) != cursorLen || strings.ContainsAny(s, "+/=") {
			t.Fatalf("encode = %q: not %d characters of unpadded base64url", s, cursorLen)
		}
		got, err := parseCursor(s, expr)
		if err != nil || !got.createdAt.Equal(c.createdAt) || got.id != c.id {
			t.Fatalf("parseCursor(encode(%+v)) = %+v, %v", c, got, err)
		}
		for _, other := range []string{"", `"apple"`, `"pear"`, `"apple" "pie" `} {
			if other == expr {
				continue
			}
			if _, err := parseCursor(s, other); !errors.Is(err, ErrBadQuery) {
				t.Errorf("a cursor of %q continued %q: %v", expr, other, err)
			}
		}
	}
}

func TestParseCursorRefusesEveryChangedCharacter(t *testing.T) {
	s := cursor{createdAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), id: 42}.encode("")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(s) {
		for _, r := range alphabet {
			if byte(r) == s[i] {
				continue
			}
			bad := s[:i] + string(r) + s[i+1:]
			if _, err := parseCursor(bad, ""); err == nil {
				// Only the unused low bits of the last character may
				// change without changing the bytes; Strict refuses those.
				t.Fatalf("changed cursor %q (from %q) was accepted", bad, s)
			}
		}
	}
}

// FuzzParseCursor checks that parseCursor refuses every text but the one
// encode makes for the same search, and never panics.
func FuzzParseCursor(f *testing.F) {
	exprs := []string{"", `"apple"`, `"a" "b"`}
	for i, c := range []cursor{
		{createdAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), id: 1},
		{createdAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), id: 1<<63 - 1},
		{createdAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), id: 7},
	} {
		f.Add(c.encode(exprs[i]), uint8(i))
	}
	for _, s := range []string{"", "garbage", strings.Repeat("A", cursorLen), strings.Repeat("_", cursorLen), "AQ=="} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, which uint8) {
		expr := exprs[int(which)%len(exprs)]
		c, err := parseCursor(s, expr)
		if err != nil {
			var q *QueryError
			if !errors.As(err, &q) || !errors.Is(err, ErrBadQuery) {
				t.Fatalf("parseCursor(%q): %T %v; want a QueryError", s, err, err)
			}
			return
		}
		if c.id <= 0 || c.createdAt.Year() < 1 || c.createdAt.Year() > 9999 {
			t.Fatalf("parseCursor(%q) = %+v, out of range", s, c)
		}
		if again := c.encode(expr); again != s {
			t.Fatalf("parseCursor(%q) = %+v, which encodes as %q", s, c, again)
		}
		if _, err := time.Parse(timeLayout, c.createdAt.Format(timeLayout)); err != nil {
			t.Fatalf("parseCursor(%q) = %+v, whose time does not fit the stored layout: %v", s, c, err)
		}
	})
}
