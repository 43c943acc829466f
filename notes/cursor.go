package notes

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// A cursor is where a listing continues: the id of the last note of the
// page before (a listing is newest first, by id). Clients get it as opaque
// text and must hand it back unchanged:
//
//	base64url, unpadded, of 13 bytes: version (2) | id (int64) | check (4)
//
// all big-endian, where check is the start of the SHA-256 of the bytes
// before it and of the search's match expression. The check is no secret
// (a cursor names positions among its owner's own notes only, so a forged
// one shows her nothing new); it makes a cursor that was edited, cut short
// or made for another search fail loudly instead of listing the wrong notes.
//
// A version 1 cursor (given out before schema migration 5, when a listing
// was ordered by created_at, then id) is still read: 25 bytes, version (1)
// | created_at seconds (int64) | nanoseconds (uint32) | id (int64) | check
// (4). It continues in the order its first page was listed in (created_at,
// then id, newest first), and the pages after it carry version 1 cursors
// too, to the end of that listing: a clock set back while notes were made
// leaves created_at out of the order of the ids, and continuing below its
// id alone would skip some notes and list others again.
type cursor struct {
	id int64
	// v1 marks a version 1 cursor; createdAt is then its note's created_at.
	v1        bool
	createdAt time.Time
}

const (
	cursorVersion   = 2
	cursorBytes     = 1 + 8 + 4
	cursorLen       = (cursorBytes*8 + 5) / 6 // its length in base64, unpadded
	cursorV1Bytes   = 1 + 8 + 4 + 8 + 4
	cursorV1Len     = (cursorV1Bytes*8 + 5) / 6
	cursorV1Version = 1
)

var cursorEncoding = base64.RawURLEncoding.Strict()

// badCursor is the one answer to every cursor that is not valid.
func badCursor() error {
	return &QueryError{"cursor is not one this listing gave out; start again from the first page"}
}

// encode returns c as text, bound to the search expr ("" for no search).
func (c cursor) encode(expr string) string {
	if c.v1 {
		return c.encodeV1(expr)
	}
	var b [cursorBytes]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], uint64(c.id))
	sum := cursorCheck(b[:9], expr)
	copy(b[9:], sum[:])
	return cursorEncoding.EncodeToString(b[:])
}

// encodeV1 returns c as a version 1 cursor, bound to expr.
func (c cursor) encodeV1(expr string) string {
	var b [cursorV1Bytes]byte
	b[0] = cursorV1Version
	binary.BigEndian.PutUint64(b[1:], uint64(c.createdAt.Unix()))
	binary.BigEndian.PutUint32(b[9:], uint32(c.createdAt.Nanosecond()))
	binary.BigEndian.PutUint64(b[13:], uint64(c.id))
	sum := cursorCheck(b[:21], expr)
	copy(b[21:], sum[:])
	return cursorEncoding.EncodeToString(b[:])
}

// parseCursor reads a cursor that encode (or, version 1, an earlier build)
// made for the same search expr, refusing anything else as a QueryError.
func parseCursor(s, expr string) (cursor, error) {
	size, version, idAt := cursorBytes, byte(cursorVersion), 1
	switch len(s) {
	case cursorLen:
	case cursorV1Len:
		size, version, idAt = cursorV1Bytes, cursorV1Version, 13
	default:
		return cursor{}, badCursor()
	}
	b, err := cursorEncoding.DecodeString(s)
	if err != nil || len(b) != size || b[0] != version {
		return cursor{}, badCursor()
	}
	if sum := cursorCheck(b[:size-4], expr); string(sum[:]) != string(b[size-4:]) {
		return cursor{}, badCursor()
	}
	id := int64(binary.BigEndian.Uint64(b[idAt:]))
	if id <= 0 {
		return cursor{}, badCursor()
	}
	if version == cursorV1Version {
		secs := int64(binary.BigEndian.Uint64(b[1:]))
		nanos := binary.BigEndian.Uint32(b[9:])
		t := time.Unix(secs, int64(nanos)).UTC()
		if nanos >= 1e9 || t.Year() < 1 || t.Year() > 9999 {
			return cursor{}, badCursor() // as version 1 was read
		}
		return cursor{id: id, v1: true, createdAt: t}, nil
	}
	return cursor{id: id}, nil
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
