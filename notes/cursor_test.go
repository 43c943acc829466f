package notes

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCursorRoundTripsAndIsBoundToItsSearch(t *testing.T) {
	c := cursor{id: 1800}
	for _, expr := range []string{"", `"apple"`, `"apple" "pie"`} {
		s := c.encode(expr)
		if len(s) != cursorLen || strings.ContainsAny(s, "+/=") {
			t.Fatalf("encode = %q: not %d characters of unpadded base64url", s, cursorLen)
		}
		got, err := parseCursor(s, expr)
		if err != nil || got != c {
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

// encodeV1 makes a version 1 cursor, as builds before schema migration 5
// gave out: the note's created_at and id.
func encodeV1(createdAt time.Time, id int64, expr string) string {
	var b [cursorV1Bytes]byte
	b[0] = cursorV1Version
	binary.BigEndian.PutUint64(b[1:], uint64(createdAt.Unix()))
	binary.BigEndian.PutUint32(b[9:], uint32(createdAt.Nanosecond()))
	binary.BigEndian.PutUint64(b[13:], uint64(id))
	sum := cursorCheck(b[:21], expr)
	copy(b[21:], sum[:])
	return cursorEncoding.EncodeToString(b[:])
}

// A cursor given out before schema migration 5 continues below its id, and
// is still bound to its search and refused when edited.
func TestParseCursorReadsVersion1(t *testing.T) {
	at := time.Date(2026, 11, 29, 8, 45, 1, 123456789, time.UTC)
	for _, expr := range []string{"", `"apple"`} {
		s := encodeV1(at, 1800, expr)
		if got, err := parseCursor(s, expr); err != nil || got.id != 1800 || !got.v1 || !got.createdAt.Equal(at) {
			t.Fatalf("parseCursor(version 1 %q) = %+v, %v; want id 1800 at %v", s, got, err, at)
		}
		if again := (cursor{id: 1800, v1: true, createdAt: at}).encode(expr); again != s {
			t.Fatalf("a version 1 cursor encodes as %q; want %q", again, s)
		}
		if _, err := parseCursor(s, expr+" "); !errors.Is(err, ErrBadQuery) {
			t.Errorf("a version 1 cursor of %q continued another search: %v", expr, err)
		}
	}
	for _, bad := range []string{
		encodeV1(at, 0, ""), // no such id
		encodeV1(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), 5, ""), // a time version 1 never held
	} {
		if _, err := parseCursor(bad, ""); !errors.Is(err, ErrBadQuery) {
			t.Errorf("parseCursor(%q) = %v; want refused", bad, err)
		}
	}
}

func TestParseCursorRefusesEveryChangedCharacter(t *testing.T) {
	for _, s := range []string{cursor{id: 42}.encode(""), encodeV1(time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), 42, "")} {
		refusesEveryChange(t, s)
	}
}

func refusesEveryChange(t *testing.T, s string) {
	t.Helper()
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
	for i, c := range []cursor{{id: 1}, {id: 1<<63 - 1}, {id: 7}} {
		f.Add(c.encode(exprs[i]), uint8(i))
	}
	for i, at := range []time.Time{
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		f.Add(encodeV1(at, int64(i+1), exprs[i]), uint8(i))
	}
	for _, s := range []string{"", "garbage", strings.Repeat("A", cursorLen), strings.Repeat("_", cursorV1Len), "AQ=="} {
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
		if c.id <= 0 {
			t.Fatalf("parseCursor(%q) = %+v, out of range", s, c)
		}
		again := c.encode(expr)
		if len(s) == cursorV1Len { // version 1: made of its own time and c's id
			b, _ := cursorEncoding.DecodeString(s)
			at := time.Unix(int64(binary.BigEndian.Uint64(b[1:])), int64(binary.BigEndian.Uint32(b[9:]))).UTC()
			if at.Year() < 1 || at.Year() > 9999 {
				t.Fatalf("parseCursor(%q) took a version 1 time out of range: %v", s, at)
			}
			again = encodeV1(at, c.id, expr)
		}
		if again != s {
			t.Fatalf("parseCursor(%q) = %+v, which encodes as %q", s, c, again)
		}
	})
}
