package router

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/notes"
)

// wantSameAsEncodingJSON fails unless appendJSON writes v as json.Marshal
// does, byte for byte (or both refuse it).
func wantSameAsEncodingJSON(t *testing.T, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := appendJSON([]byte("prefix"), v)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("encoding/json error %v, ours %v", werr, gerr)
	}
	if werr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("encoding/json: %s\nours:          %s", want, got[len("prefix"):])
	}
}

func TestNoteJSONIsByteForByteEncodingJSONs(t *testing.T) {
	at := time.Date(2026, 11, 29, 9, 58, 1, 123456789, time.UTC)
	east := time.FixedZone("east", 5*3600+30*60)
	odd := time.FixedZone("odd", 3600+17) // seconds in the offset: encoding/json refuses it
	cursor := "b64:abc<&>"
	for _, n := range []notes.Note{
		{ID: 1, Title: "hello", Body: "", CreatedAt: at, UpdatedAt: at},
		{ID: -7, Title: "<script>&amp;\"quoted\"\\", Body: "tab\tnl\ncr\rbs\bff\fnul\x00esc\x1bdel\x7f", CreatedAt: at.In(east), UpdatedAt: at.Truncate(time.Second)},
		{ID: 1 << 62, Title: "caf\u00e9 \u2028 \u2029 \U0001F600", Body: "bad \xff\xfe utf-8 \xe2\x82", CreatedAt: time.Time{}, UpdatedAt: at},
		{ID: 2, Title: "far future", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), UpdatedAt: at},
		{ID: 3, Title: "odd zone", CreatedAt: at.In(odd), UpdatedAt: at},
	} {
		wantSameAsEncodingJSON(t, n)
		wantSameAsEncodingJSON(t, notesResponse{Notes: []notes.Note{n, n}, NextCursor: &cursor})
	}
	wantSameAsEncodingJSON(t, notesResponse{})
	wantSameAsEncodingJSON(t, notesResponse{Notes: []notes.Note{}})
}

func FuzzNoteJSON(f *testing.F) {
	f.Add(int64(1), "title", "body", int64(0), 0, "cursor")
	f.Add(int64(-1), "<a&b>\u2028", "\xff\x00\"\\", int64(1<<40), 3600, "")
	f.Fuzz(func(t *testing.T, id int64, title, body string, nanos int64, offset int, cursor string) {
		at := time.Unix(0, nanos).In(time.FixedZone("z", offset%(30*3600)))
		n := notes.Note{ID: id, Title: title, Body: body, CreatedAt: at, UpdatedAt: at.UTC()}
		wantSameAsEncodingJSON(t, n)
		wantSameAsEncodingJSON(t, notesResponse{Notes: []notes.Note{n}, NextCursor: &cursor})
	})
}
