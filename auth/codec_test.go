package auth

import (
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
	for _, b := range [][]byte{nil, {1}, {2, 0, 0, 0, 0, 0, 0, 0, 0, '{', '}'}, {1, 0, 0, 0, 0, 0, 0, 0, 0, '['}} {
		if _, _, err := (SessionCodec{}).Decode(b); err == nil {
			t.Errorf("Decode(%q) accepted", b)
		}
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
		if err != nil || !d2.Equal(d) || len(v2) != len(v) {
			t.Fatalf("round trip changed the session")
		}
	})
}
