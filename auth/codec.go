package auth

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SessionCodec encodes a session as its deadline and its values, which
// must be strings, in a few dozen bytes. scs's default gob codec compiles
// its type descriptions again on every decode, which made sessions cost
// more than the database read they guard; this one writes a version byte,
// an 8-byte deadline, and the values as length-prefixed key/value pairs
// sorted by key, so that equal sessions encode to equal bytes (the session
// store relies on it) and a decode is a few slices, not a JSON parse.
// Version 1, a JSON object after the deadline, is still read: sessions
// written before version 2 stay valid.
type SessionCodec struct{}

// Codec versions: the first byte of an encoded session.
const (
	codecJSON  = 1 // a JSON object of strings after the deadline
	codecPairs = 2 // a count, then length-prefixed keys and values
)

// Encode implements scs.Codec.
func (SessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(values))
	size := 9 + binary.MaxVarintLen64
	for k, v := range values {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("session value %q is a %T; only strings are stored", k, v)
		}
		keys = append(keys, k)
		size += 2*binary.MaxVarintLen64 + len(k) + len(s)
	}
	slices.Sort(keys)
	out := make([]byte, 9, size)
	out[0] = codecPairs
	binary.BigEndian.PutUint64(out[1:], uint64(deadline.UnixNano()))
	out = binary.AppendUvarint(out, uint64(len(keys)))
	for _, k := range keys {
		v := values[k].(string)
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		out = binary.AppendUvarint(out, uint64(len(v)))
		out = append(out, v...)
	}
	return out, nil
}

var errBadSession = errors.New("auth: malformed session data")

// Decode implements scs.Codec.
func (SessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) < 9 {
		return time.Time{}, nil, errBadSession
	}
	deadline := time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9])))
	var values map[string]any
	var err error
	switch b[0] {
	case codecPairs:
		values, err = decodePairs(b[9:])
	case codecJSON:
		values, err = decodeJSON(b[9:])
	default:
		err = errBadSession
	}
	if err != nil {
		return time.Time{}, nil, err
	}
	return deadline, values, nil
}

// decodePairs reads version 2's values: strictly, so that what decodes
// encodes back to the same bytes (keys sorted and distinct, nothing after
// the last pair).
func decodePairs(b []byte) (map[string]any, error) {
	n, b, ok := uvarint(b)
	if !ok || n > uint64(len(b))/2 { // each pair takes two bytes at least
		return nil, errBadSession
	}
	values := make(map[string]any, n)
	prev := ""
	for i := range n {
		var k, v []byte
		if k, b, ok = lengthPrefixed(b); !ok {
			return nil, errBadSession
		}
		if v, b, ok = lengthPrefixed(b); !ok {
			return nil, errBadSession
		}
		key := sessionKey(k)
		if i > 0 && key <= prev {
			return nil, errBadSession
		}
		values[key] = string(v)
		prev = key
	}
	if len(b) != 0 {
		return nil, errBadSession
	}
	return values, nil
}

// sessionKey returns k as a string, without allocating for the keys cubby
// itself stores.
func sessionKey(k []byte) string {
	switch string(k) {
	case SessionTenantKey:
		return SessionTenantKey
	}
	return string(k)
}

// uvarint reads one uvarint from the front of b, in its shortest form
// only (a longer one, such as 0x80 0x00 for 0, would decode to a session
// that encodes to other bytes).
func uvarint(b []byte) (uint64, []byte, bool) {
	n, size := binary.Uvarint(b)
	var shortest [binary.MaxVarintLen64]byte // on the stack, not appended to nil
	if size <= 0 || size != binary.PutUvarint(shortest[:], n) {
		return 0, b, false
	}
	return n, b[size:], true
}

// lengthPrefixed reads a uvarint length and that many bytes from the front
// of b.
func lengthPrefixed(b []byte) (field, rest []byte, ok bool) {
	n, b, ok := uvarint(b)
	if !ok || n > uint64(len(b)) {
		return nil, b, false
	}
	return b[:n], b[n:], true
}

// decodeJSON reads version 1's values.
func decodeJSON(b []byte) (map[string]any, error) {
	var strs map[string]string
	if err := json.Unmarshal(b, &strs); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadSession, err)
	}
	values := make(map[string]any, len(strs))
	for k, v := range strs {
		values[k] = v
	}
	return values, nil
}
