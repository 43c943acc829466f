package auth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"testing"
	"time"
)

func TestSessionCodecRoundTrip(t *testing.T) {
	deadline := time.Date(2026, 11, 26, 1, 2, 3, 4, time.UTC)
	b, err := SessionCodec{}.Encode(deadline, map[string]any{SessionTenantKey: "abc", "x": ""})
	if err != nil {
		t.Fatal(err)
	}
	got, values, err := SessionCodec{}.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(deadline) || values[SessionTenantKey] != "abc" || values["x"] != "" || len(values) != 2 {
		t.Fatalf("got %v %v", got, values)
	}
}

func TestSessionCodecRefusesWhatItCannotKeep(t *testing.T) {
	if _, err := (SessionCodec{}).Encode(time.Now(), map[string]any{"n": 1}); err == nil {
		t.Error("a non-string value was accepted")
	}
	bad := [][]byte{
		nil, {1}, {3, 0, 0, 0, 0, 0, 0, 0, 0, '{', '}'}, {1, 0, 0, 0, 0, 0, 0, 0, 0, '['},
		{2, 0, 0, 0, 0, 0, 0, 0, 0},                            // no count
		{2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'k'},                 // no value
		{2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'k', 5, 'v'},         // value shorter than its length
		{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'x'},                    // bytes after the last pair
		{2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 'b', 0, 1, 'a', 0},   // keys out of order
		{2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 'a', 0, 1, 'a', 0},   // a key twice
		{2, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1}, // a count past the bytes
		{2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0, 0},             // a length not in its shortest form
	}
	for _, b := range bad {
		if _, _, err := (SessionCodec{}).Decode(b); err == nil {
			t.Errorf("Decode(%q) accepted", b)
		}
	}
}

// TestSessionCodecReadsVersion1: sessions written before the pairs format
// (a JSON object after the deadline) still decode, so an upgrade signs no
// one out; they are written back in the new format.
func TestSessionCodecReadsVersion1(t *testing.T) {
	deadline := time.Date(2026, 11, 26, 1, 2, 3, 4, time.UTC)
	v1 := append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}, `{"tenant_id":"abc","x":"y"}`...)
	binary.BigEndian.PutUint64(v1[1:9], uint64(deadline.UnixNano()))
	got, values, err := SessionCodec{}.Decode(v1)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(deadline) || values[SessionTenantKey] != "abc" || values["x"] != "y" || len(values) != 2 {
		t.Fatalf("got %v %v", got, values)
	}
	again, err := SessionCodec{}.Encode(got, values)
	if err != nil || again[0] != codecPairs {
		t.Fatalf("re-encoded as %v, %v", again, err)
	}
}

// TestSessionCodecDeterministic: equal sessions encode to equal bytes,
// whatever the map's order (the session store compares bytes).
func TestSessionCodecDeterministic(t *testing.T) {
	values := map[string]any{}
	for i := range 20 {
		values[fmt.Sprintf("k%02d", i)] = fmt.Sprint(i)
	}
	first, err := SessionCodec{}.Encode(time.Unix(5, 0), values)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, _ := SessionCodec{}.Encode(time.Unix(5, 0), maps.Clone(values))
		if !bytes.Equal(b, first) {
			t.Fatal("the same session encoded to different bytes")
		}
	}
}

// BenchmarkSessionCodecDecode: a signed-in user's session, in the format
// written today against version 1's JSON (the baseline).
func BenchmarkSessionCodecDecode(b *testing.B) {
	id := "0123456789abcdef0123456789abcdef"
	v2, _ := SessionCodec{}.Encode(time.Now(), map[string]any{SessionTenantKey: id})
	v1 := append(append([]byte{}, v2[:9]...), `{"tenant_id":"`+id+`"}`...)
	v1[0] = codecJSON
	for _, c := range []struct {
		name string
		enc  []byte
	}{{"baseline=v1-json", v1}, {"v2-pairs", v2}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := (SessionCodec{}).Decode(c.enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzSessionCodecDecode(f *testing.F) {
	b, _ := SessionCodec{}.Encode(time.Unix(1, 0), map[string]any{"k": "v"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, v, err := SessionCodec{}.Decode(b)
		if err != nil {
			return
		}
		again, err := SessionCodec{}.Encode(d, v)
		if err != nil {
			t.Fatalf("decoded values do not encode: %v", err)
		}
		d2, v2, err := SessionCodec{}.Decode(again)
		if err != nil || !d2.Equal(d) || !maps.Equal(v2, v) {
			t.Fatalf("round trip changed the session")
		}
		if b[0] == codecPairs && !bytes.Equal(again, b) {
			t.Fatalf("a version 2 session re-encoded to other bytes")
		}
	})
}
