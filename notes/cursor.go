package notes

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// A cursor is where a listing continues: the (created_at, id) of the last
// note of the page before, the keyset that the index notes_created orders.
// Clients get it as opaque text and must hand it back unchanged:
//
//	base64url, unpadded, of 25 bytes:
//	  version (1) | created_at seconds (int64) | nanoseconds (uint32) |
//	  id (int64) | check (4)
//
// all big-endian, where check is the start of the SHA-256 of the bytes
// before it and of the search's match expression. The check is no secret
// (a cursor names positions among its owner's own notes only, so a forged
// one shows her nothing new); it makes a cursor that was edited, cut short
// or made for another search fail loudly instead of listing the wrong notes.
type cursor struct {
	createdAt time.Time
	id        int64
}

const (
	cursorVersion = 1
	cursorBytes   = 1 + 8 + 4 + 8 + 4
	cursorLen     = (cursorBytes*8 + 5) / 6 // its length in base64, unpadded
)

var cursorEncoding = base64.RawURLEncoding.Strict()

// badCursor is the one answer to every cursor that is not valid.
func badCursor() error {
	return &QueryError{"cursor is not one this listing gave out; start again from the first page"}
}

// encode returns c as text, bound to the search expr ("" for no search).
func (c cursor) encode(expr string) string {
	var b [cursorBytes]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], uint64(c.createdAt.Unix()))
	binary.BigEndian.PutUint32(b[9:], uint32(c.createdAt.Nanosecond()))
	binary.BigEndian.PutUint64(b[13:], uint64(c.id))
	sum := cursorCheck(b[:21], expr)
	copy(b[21:], sum[:])
	return cursorEncoding.EncodeToString(b[:])
}

// parseCursor reads a cursor that encode made for the same search expr,
// refusing anything else as a QueryError.
func parseCursor(s, expr string) (cursor, error) {
	if len(s) != cursorLen {
		return cursor{}, badCursor()
	}
	b, err := cursorEncoding.DecodeString(s)
	if err != nil || len(b) != cursorBytes || b[0] != cursorVersion {
		return cursor{}, badCursor()
	}
	if sum := cursorCheck(b[:21], expr); string(sum[:]) != string(b[21:]) {
		return cursor{}, badCursor()
	}
	secs := int64(binary.BigEndian.Uint64(b[1:]))
	nanos := binary.BigEndian.Uint32(b[9:])
	id := int64(binary.BigEndian.Uint64(b[13:]))
	if nanos >= 1e9 || id <= 0 {
		return cursor{}, badCursor()
	}
	t := time.Unix(secs, int64(nanos)).UTC()
	if t.Year() < 1 || t.Year() > 9999 { // what timeLayout can hold
		return cursor{}, badCursor()
	}
	return cursor{createdAt: t, id: id}, nil
}

func cursorCheck(position []byte, expr string) [4]byte {
	h := sha256.New()
	h.Write([]byte("cubby notes cursor\x00"))
	h.Write(position)
	h.Write([]byte(expr))
	var sum [4]byte
	copy(sum[:], h.Sum(nil))
	return sum
}
