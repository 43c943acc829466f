package router

import (
	"bytes"
	"encoding/json"
	"unicode"
)

// Checks on a JSON document that encoding/json does not make: it replaces
// bytes that are not UTF-8 and unpaired surrogate escapes with U+FFFD, and
// lets the last of two equal keys win. Both would store something other
// than what the client sent, so decodeJSON refuses them.

// loneSurrogate returns the offset of the first \u escape in doc that is
// half a surrogate pair without its other half, or -1. doc must be
// well-formed JSON, so that every backslash is an escape inside a string.
func loneSurrogate(doc []byte) int {
	for i := 0; i < len(doc); i++ {
		if doc[i] != '\\' {
			continue
		}
		at := i
		i++ // the escaped byte; a `\\` is skipped whole
		if i >= len(doc) || doc[i] != 'u' {
			continue
		}
		r, ok := hex4(doc[i+1:])
		if !ok {
			continue
		}
		i += 4
		switch {
		case 0xD800 <= r && r < 0xDC00: // a high half needs a low half next
			if len(doc) < i+7 || doc[i+1] != '\\' || doc[i+2] != 'u' {
				return at
			}
			if lo, ok := hex4(doc[i+3:]); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return at
			}
			i += 6
		case 0xDC00 <= r && r <= 0xDFFF:
			return at
		}
	}
	return -1
}

// hex4 reads the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// frame is one open object or array of the document being walked.
type frame struct {
	keys   map[string]bool // the folded keys seen so far; nil in an array
	wanted bool            // in an object: the next token is a key
}

// duplicateKey returns the first key of doc that repeats a key of the same
// object, comparing keys as encoding/json matches them to fields (escapes
// decoded, letter case folded), at any depth. doc must be well-formed JSON.
func duplicateKey(doc []byte) (string, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false, err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.wanted { // a key, or the object's end
			if k, ok := tok.(string); ok {
				folded := foldKey(k)
				if top.keys[folded] {
					return k, true, nil
				}
				top.keys[folded], top.wanted = true, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, wanted: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return "", false, nil
		}
		if parent := stack[len(stack)-1]; parent.keys != nil {
			parent.wanted = true // a value ended: a key or the end comes next
		}
	}
}

// foldKey maps every key that encoding/json would match to one field to
// one string: ASCII letters upper-cased, every other rune replaced by the
// smallest rune of its Unicode simple-folding orbit (so "k", "K" and the
// Kelvin sign are one key).
func foldKey(k string) string {
	out := make([]rune, 0, len(k))
	for _, r := range k {
		out = append(out, foldRune(r))
	}
	return string(out)
}

func foldRune(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}
