package router

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cubbyhq/cubby/notes"
)

// The answers the read path sends most (a note, a page of notes) are
// encoded here by hand, without encoding/json's reflection, into the bytes
// encoding/json would produce (fuzzed against it in jsonenc_test.go): the
// same key order, HTML-safe escapes, \ufffd for bytes that are not UTF-8,
// and RFC 3339 times with their nanoseconds.

// appendJSON appends v as encoding/json.Marshal would, by hand for notes
// and pages of notes, through encoding/json for anything else.
func appendJSON(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case notes.Note:
		if b, ok := appendNote(dst, v); ok {
			return b, nil
		}
	case notesResponse:
		if b, ok := appendNotesResponse(dst, v); ok {
			return b, nil
		}
	}
	b, err := json.Marshal(v)
	return append(dst, b...), err
}

// appendNotesResponse appends a page of notes; ok is false when a note
// cannot be encoded by hand (see appendNote), and dst is then unchanged.
func appendNotesResponse(dst []byte, p notesResponse) ([]byte, bool) {
	b := append(dst, `{"notes":`...)
	if p.Notes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, n := range p.Notes {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendNote(b, n); !ok {
				return dst, false
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"next_cursor":`...)
	if p.NextCursor == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *p.NextCursor)
	}
	return append(b, '}'), true
}

// appendNote appends n; ok is false (and dst unchanged) for a time that
// encoding/json refuses (a year outside 0–9999), whose error it then gives.
func appendNote(dst []byte, n notes.Note) ([]byte, bool) {
	if !jsonTime(n.CreatedAt) || !jsonTime(n.UpdatedAt) {
		return dst, false
	}
	b := append(dst, `{"id":`...)
	b = strconv.AppendInt(b, n.ID, 10)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, n.Title)
	b = append(b, `,"body":`...)
	b = appendJSONString(b, n.Body)
	b = append(b, `,"created_at":"`...)
	b = n.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","updated_at":"`...)
	b = n.UpdatedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), true
}

// jsonTime reports whether t is a time encoding/json writes as RFC 3339:
// a four-digit year and a zone offset of whole minutes within a day.
func jsonTime(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off%60 == 0 && off > -24*3600 && off < 24*3600
}

// appendJSONString appends s quoted as encoding/json quotes it, with HTML
// escaping on (its default).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control characters, and <, > and & for HTML
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
