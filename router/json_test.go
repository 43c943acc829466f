package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeJSONAcceptsExactFields(t *testing.T) {
	cases := map[string]draftRequest{
		`{"title":"a","body":"b"}`:           {"a", "b"},
		` {"body":"b", "title":"a"} ` + "\n": {"a", "b"},
		`{"title":"a"}`:                      {"a", ""},
		`{}`:                                 {},
		`{"ti\u0074le":"escaped key"}`:       {"escaped key", ""},
		`{"title":"\ud83d\ude42"}`:           {"🙂", ""},
	}
	for in, want := range cases {
		var got draftRequest
		if err := decodeJSON(strings.NewReader(in), &got); err != nil || got != want {
			t.Errorf("decode %s = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func TestDecodeJSONMessagesSayWhatIsWrong(t *testing.T) {
	cases := map[string]string{
		`{"TITLE":"a"}`:           `unknown field "TITLE"`,
		`{"title":null}`:          `field "title" must not be null`,
		`{"title":5}`:             `field "title" must be a string, not a number`,
		`{"title":"a"} {}`:        "nothing after it",
		`{"title":`:               "malformed JSON",
		``:                        "it is empty",
		`[1]`:                     "must be a JSON object",
		`null`:                    "must be a JSON object",
		`{"title":"a",}`:          "malformed JSON at byte",
		`{"body":"x","zz":1}`:     `expected "body", "title"`,
		`{"title":"a","title":1}`: `the key "title" appears twice`,
	}
	for in, want := range cases {
		var d draftRequest
		err := decodeJSON(strings.NewReader(in), &d)
		var bad *failure
		if !errors.As(err, &bad) || bad.code != codeBadRequest || !strings.Contains(bad.message, want) {
			t.Errorf("decode %s: %v; want a bad request saying %q", in, err, want)
		}
	}
}

func TestDecodeJSONKeepsTooLarge(t *testing.T) {
	for _, in := range []string{`{"title":"` + strings.Repeat("x", 100), `{"title":"a"}` + strings.Repeat(" ", 100) + "x"} {
		body := http.MaxBytesReader(httptest.NewRecorder(), readCloser{strings.NewReader(in)}, 50)
		var d draftRequest
		var tooLarge *http.MaxBytesError
		if err := decodeJSON(body, &d); !errors.As(err, &tooLarge) {
			t.Errorf("decode over the limit: %v; want *http.MaxBytesError", err)
		}
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// FuzzDecodeJSON checks that no body makes decoding panic or fail with
// anything but a bad request, and that whatever is accepted is exactly an
// object of known fields.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"title":"a","body":"b"}`, `{"TITLE":"a"}`, `{"title":null}`, `{"title":1}`, `{"title":"a"}x`,
		`[]`, `null`, ``, `{"title":"\u0000"}`, `{"title":"a","title":"b"}`, "{\"title\":\"\xff\"}",
		`{"title":"a"}` + "\n\t ", `{"body":{"nested":[1,2,{"x":null}]}}`,
		`{"title":"a","Title":"b"}`, `{"ti\u0074le":"a","title":"b"}`, `{"body":[{"k":1,"\u212a":2}]}`,
		`{"title":"\ud800"}`, `{"title":"\ud83d\ude42"}`, `{"title":"\\ud800"}`, "{\"title\":\"\xed\xa0\x80\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d draftRequest
		err := decodeJSON(strings.NewReader(string(in)), &d)
		if err != nil {
			var bad *failure
			if !errors.As(err, &bad) || bad.code != codeBadRequest {
				t.Fatalf("decode %q: %T %v; want a bad request", in, err, err)
			}
			if p := classify(err); httpStatus(p.code) != 400 || p.code != "bad_request" {
				t.Fatalf("decode %q: classified %+v", in, p)
			}
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(in, &obj) != nil || obj == nil {
			t.Fatalf("accepted %q, which is not one JSON object", in)
		}
		for k := range obj {
			if k != "title" && k != "body" {
				t.Fatalf("accepted %q with unknown key %q", in, k)
			}
		}
		if !utf8.Valid(in) || !utf8.ValidString(d.Title) || !utf8.ValidString(d.Body) {
			t.Fatalf("accepted %q, which is not UTF-8, into %+v", in, d)
		}
		// A U+FFFD was sent, never made from bytes or escapes that are not text.
		if strings.ContainsRune(d.Title+d.Body, utf8.RuneError) &&
			!strings.ContainsRune(string(in), utf8.RuneError) && !strings.Contains(strings.ToLower(string(in)), `\ufffd`) {
			t.Fatalf("accepted %q into %+v, with a U+FFFD the client did not send", in, d)
		}
		if k := repeatedTopKey(t, in); k != "" {
			t.Fatalf("accepted %q, where the key %q appears twice", in, k)
		}
		// What is accepted reads as encoding/json reads it.
		var std struct{ Title, Body string }
		if err := json.Unmarshal(in, &std); err != nil || std.Title != d.Title || std.Body != d.Body {
			t.Fatalf("accepted %q as %+v; encoding/json reads %+v, %v", in, d, std, err)
		}
	})
}

// repeatedTopKey returns a key of the object in that equals an earlier key
// in any letter case, or "".
func repeatedTopKey(t *testing.T, in []byte) string {
	dec := json.NewDecoder(bytes.NewReader(in))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%q does not start an object: %v %v", in, tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		k := tok.(string)
		for _, seen := range keys {
			if strings.EqualFold(seen, k) {
				return k
			}
		}
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return ""
}
