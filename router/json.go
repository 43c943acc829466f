package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// jsonRequest is a request body: fields names every JSON key it accepts,
// spelled exactly, and where to decode its value.
type jsonRequest interface {
	fields() map[string]any
}

// decodeJSON reads one JSON object from body into dst, strictly: the body
// must be UTF-8 text holding a single object; every key must be one of
// dst's fields, spelled exactly (encoding/json alone would take "TITLE" for
// "title"); no object, at any depth, may hold one key twice (in any letter
// case); no value may be null or of the wrong type; nothing may follow the
// object. Absent keys keep their zero value. Every failure is a bad request,
// except a body over the size limit, which stays an *http.MaxBytesError.
func decodeJSON(body io.Reader, dst jsonRequest) error {
	doc, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return badRequest("the body could not be read")
	}
	obj, err := decodeObject(doc)
	if err != nil {
		return err
	}
	fields := dst.fields()
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same input always gets the same message
	for _, k := range keys {
		target, ok := fields[k]
		if !ok {
			return badRequest(fmt.Sprintf("unknown field %q; expected %s", k, fieldList(fields)))
		}
		if err := decodeField(k, obj[k], target); err != nil {
			return err
		}
	}
	return nil
}

// decodeObject reads doc as one JSON object, refusing text that is not
// UTF-8, duplicate keys and anything after the object.
func decodeObject(doc []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(doc) {
		return nil, badRequest("the body must be UTF-8 text")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return nil, jsonError(err)
	}
	if obj == nil {
		return nil, badRequest("the body must be a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("the body must hold one JSON object and nothing after it")
	}
	// Only now is doc known to be well-formed, as the checks below need.
	if at := loneSurrogate(doc); at >= 0 {
		return nil, badRequest(fmt.Sprintf("the body must be UTF-8 text; the escape at byte %d is half a surrogate pair", at))
	}
	k, dup, err := duplicateKey(doc)
	switch {
	case err != nil:
		return nil, jsonError(err)
	case dup:
		return nil, badRequest(fmt.Sprintf("the key %q appears twice in one object", k))
	}
	return obj, nil
}

// decodeField decodes one value, refusing null and wrong types.
func decodeField(name string, raw json.RawMessage, target any) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return badRequest(fmt.Sprintf("field %q must not be null", name))
	}
	if err := json.Unmarshal(raw, target); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return badRequest(fmt.Sprintf("field %q must be a %s, not a %s", name, typ.Type, typ.Value))
		}
		return badRequest(fmt.Sprintf("field %q is not valid JSON", name))
	}
	return nil
}

// jsonError explains why the body is not a JSON object.
func jsonError(err error) error {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("the body must be a JSON object, and it is empty")
	case errors.As(err, &syntax):
		return badRequest(fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	case errors.As(err, &typ):
		return badRequest("the body must be a JSON object")
	}
	return badRequest("malformed JSON")
}

func fieldList(fields map[string]any) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, fmt.Sprintf("%q", k))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// writeJSON answers with v as JSON (see appendJSON). Into a buffered
// answer it encodes straight into the buffer's free space.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b []byte
	if buf, ok := w.(*bufferedResponse); ok {
		b = buf.body.AvailableBuffer()
	}
	b, err := appendJSON(b, v)
	if err != nil { // only for types that cannot be marshalled: a bug
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"something went wrong on our side"}}`)
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	w.Write(append(b, '\n')) //nolint:errcheck // the client went away
}
