package auth

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SessionCodec encodes a session as its deadline and its values, which
// must be strings, in a few dozen bytes. scs's default gob codec compiles
// its type descriptions again on every decode, which made sessions cost
// more than the database read they guard; this one is a JSON object behind
// an 8-byte deadline.
type SessionCodec struct{}

const codecVersion = 1

// Encode implements scs.Codec.
func (SessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	strs := make(map[string]string, len(values))
	for k, v := range values {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("session value %q is a %T; only strings are stored", k, v)
		}
		strs[k] = s
	}
	js, err := json.Marshal(strs)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	out := make([]byte, 9, 9+len(js))
	out[0] = codecVersion
	binary.BigEndian.PutUint64(out[1:], uint64(deadline.UnixNano()))
	return append(out, js...), nil
}

var errBadSession = errors.New("auth: malformed session data")

// Decode implements scs.Codec.
func (SessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) < 9 || b[0] != codecVersion {
		return time.Time{}, nil, errBadSession
	}
	deadline := time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9])))
	var strs map[string]string
	if err := json.Unmarshal(b[9:], &strs); err != nil {
		return time.Time{}, nil, fmt.Errorf("%w: %w", errBadSession, err)
	}
	values := make(map[string]any, len(strs))
	for k, v := range strs {
		values[k] = v
	}
	return deadline, values, nil
}
