package router

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestDecodeJSONRefusesTextThatIsNotUTF8(t *testing.T) {
	for _, in := range []string{
		"{\"title\":\"\xff\"}",
		"{\"title\":\"a\",\"body\":\"caf\xc3\"}",
		"{\"title\":\"\xed\xa0\x80\"}", // a surrogate encoded as UTF-8
		"{\"\xfe\":\"x\"}",
		`{"title":"\ud800"}`,
		`{"title":"a\udc00b"}`,
		`{"title":"\ud83d\u0041"}`,
		`{"title":"\ud83d"}`,
		`{"title":"\ude42\ud83d"}`,
		`{"title":"ok","body":"\\\ud800"}`,
	} {
		var d draftRequest
		err := decodeJSON(strings.NewReader(in), &d)
		var bad *failure
		if !errors.As(err, &bad) || bad.code != codeBadRequest || !strings.Contains(bad.message, "UTF-8") {
			t.Errorf("decode %q = %+v, %v; want a bad request about UTF-8", in, d, err)
		}
	}
}

func TestDecodeJSONAcceptsEscapesThatAreText(t *testing.T) {
	cases := map[string]draftRequest{
		`{"title":"\\ud800"}`:                  {`\ud800`, ""},
		`{"title":"\\\\ud800"}`:                {`\\ud800`, ""},
		`{"title":"\ud83d\ude42\uD83D\uDE42"}`: {"🙂🙂", ""},
		`{"title":"\uffff\ue000"}`:             {"\uffff\ue000", ""},
		`{"title":"x","body":"\ufffd"}`:        {"x", "\ufffd"},
	}
	for in, want := range cases {
		var got draftRequest
		if err := decodeJSON(strings.NewReader(in), &got); err != nil || got != want {
			t.Errorf("decode %s = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func TestDecodeJSONRefusesDuplicateKeysAtAnyDepthInAnyCase(t *testing.T) {
	for in, key := range map[string]string{
		`{"title":"a","title":"b"}`:                           "title",
		`{"title":"a","body":"b","title":"a"}`:                "title",
		`{"title":"a","Title":"b"}`:                           "Title",
		`{"body":"a","BODY":"b"}`:                             "BODY",
		`{"ti\u0074le":"a","title":"b"}`:                      "title",
		`{"title":"a","TİTLE":"b","tItLe":"c"}`:               "tItLe",
		`{"body":{"a":1,"a":2}}`:                              "a",
		`{"body":[1,{"x":{"k":1,"\u212a":2}}],"title":"t"}`:   "\u212a",
		`{"body":[[{}],{"deep":{"deeper":[{"q":1,"Q":1}]}}]}`: "Q",
	} {
		var d draftRequest
		err := decodeJSON(strings.NewReader(in), &d)
		var bad *failure
		want := fmt.Sprintf("%q appears twice", key)
		if !errors.As(err, &bad) || bad.code != codeBadRequest || !strings.Contains(bad.message, want) {
			t.Errorf("decode %s = %+v, %v; want a bad request saying %s", in, d, err, want)
		}
	}
}

func TestDuplicateKeyFindsOnlyRepeatsWithinOneObject(t *testing.T) {
	cases := map[string]string{
		`{}`:      "",
		`[]`:      "",
		`"title"`: "",
		`{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}`: "",
		`{"a":"b","b":"a"}`:                         "",
		`{"a":["a","a"]}`:                           "",
		`{"ß":1,"ss":2,"SS":3}`:                     "SS",
		`{"k":1,"K":2}`:                             "K",
		`{"x":{},"y":[],"x":null}`:                  "x",
		`{"a":{"b":1},"c":{"b":2,"B":3}}`:           "B",
		`{"i":1,"ı":2,"İ":3}`:                       "",
	}
	for in, want := range cases {
		got, dup, err := duplicateKey([]byte(in))
		if err != nil || dup != (want != "") || got != want {
			t.Errorf("duplicateKey(%s) = %q, %v, %v; want %q", in, got, dup, err, want)
		}
	}
}

func TestEveryJSONBodyRefusesBadUTF8AndDuplicateKeys(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	n := c.createNote("keep", "kept")
	note := fmt.Sprintf("/api/v1/notes/%d", n.ID)
	bodies := map[string][]string{
		"/api/v1/signup": {
			`{"username":"bob","username":"eve","password":"correct horse"}`,
			"{\"username\":\"b\xffob\",\"password\":\"correct horse\"}",
			"{\"username\":\"bob\",\"password\":\"correct horse\xff\"}",
		},
		"/api/v1/login": {
			`{"username":"alice","password":"wrong horse","password":"correct horse"}`,
			`{"username":"alice","Username":"alice","password":"correct horse"}`,
			"{\"username\":\"alice\",\"password\":\"correct hors\xe9\"}",
		},
		"/api/v1/notes": {
			`{"title":"a","title":"b"}`,
			"{\"title\":\"caf\xe9\"}",
			`{"title":"\ud800"}`,
		},
		"/api/v1/account": {
			`{"password":"x","password":"correct horse"}`,
			"{\"password\":\"correct horse\xff\"}",
		},
		note: {
			`{"title":"a","TITLE":"b"}`,
			"{\"title\":\"x\",\"body\":\"\xc0\xaf\"}",
			`{"title":"x","body":"\udfff"}`,
		},
	}
	methods := map[string]string{"/api/v1/account": "DELETE", note: "PUT"}
	for path, list := range bodies {
		method := methods[path]
		if method == "" {
			method = "POST"
		}
		for _, body := range list {
			rec := c.do(method, path, body)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s %s %q: %d %s; want 400", method, path, body, rec.Code, rec.Body)
				continue
			}
			wantError(t, rec, 400, "bad_request")
		}
	}
	// Nothing was written: alice is still signed in, with her one note,
	// and no bob or eve was made.
	list := decode[notesJSON](t, c.do("GET", "/api/v1/notes", nil))
	if len(list.Notes) != 1 || list.Notes[0] != n {
		t.Fatalf("notes after refused bodies: %+v", list.Notes)
	}
	for _, name := range []string{"bob", "eve"} {
		other := r.client()
		rec := other.do("POST", "/api/v1/login", map[string]string{"username": name, "password": "correct horse"})
		wantError(t, rec, 401, "invalid_credentials")
	}
}
