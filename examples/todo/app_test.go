package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// newServer serves the app over a fresh data directory until the test ends.
func newServer(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	app, closeApp, err := open(context.Background(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := closeApp(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

// do sends a request as user ("" for none) and returns the status and body.
func do(t *testing.T, srv *httptest.Server, user, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set(userHeader, user)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// must sends a request that must answer want, and returns the body.
func must(t *testing.T, srv *httptest.Server, want int, user, method, path, body string) string {
	t.Helper()
	code, got := do(t, srv, user, method, path, body)
	if code != want {
		t.Fatalf("%s %s as %q: %d %s, want %d", method, path, user, code, got, want)
	}
	return got
}

func titles(t *testing.T, srv *httptest.Server, user string) []string {
	t.Helper()
	var todos []Todo
	if err := json.Unmarshal([]byte(must(t, srv, 200, user, "GET", "/todos", "")), &todos); err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, td := range todos {
		out = append(out, td.Title)
	}
	return out
}

func TestTwoUsersSeeOnlyTheirOwnTodos(t *testing.T) {
	srv := newServer(t, t.TempDir())
	for _, u := range []string{"alice", "bob"} {
		must(t, srv, 201, u, "POST", "/signup", "")
	}
	must(t, srv, 201, "alice", "POST", "/todos", `{"title":"alice 1"}`)
	must(t, srv, 201, "alice", "POST", "/todos", `{"title":"alice 2"}`)
	must(t, srv, 201, "bob", "POST", "/todos", `{"title":"bob 1"}`)

	// Ids are per user: bob's todo 1 is his own, and alice's todo 2 does
	// not exist for him.
	must(t, srv, 404, "bob", "DELETE", "/todos/2", "")
	must(t, srv, 404, "bob", "PATCH", "/todos/2", `{"done":true}`)
	done := must(t, srv, 200, "bob", "PATCH", "/todos/1", `{"done":true}`)
	if !strings.Contains(done, `"done":true`) || !strings.Contains(done, "bob 1") {
		t.Errorf("bob's done todo: %s", done)
	}

	if got := titles(t, srv, "alice"); strings.Join(got, ",") != "alice 1,alice 2" {
		t.Errorf("alice sees %q", got)
	}
	if got := titles(t, srv, "Bob"); strings.Join(got, ",") != "bob 1" {
		t.Errorf("bob sees %q", got)
	}
	must(t, srv, 204, "alice", "DELETE", "/todos/1", "")
	if got := titles(t, srv, "alice"); strings.Join(got, ",") != "alice 2" {
		t.Errorf("after delete alice sees %q", got)
	}
	if got := titles(t, srv, "bob"); strings.Join(got, ",") != "bob 1" {
		t.Errorf("alice's delete reached bob: %q", got)
	}
}

func TestBadInputIsAClientError(t *testing.T) {
	srv := newServer(t, t.TempDir())
	must(t, srv, 201, "alice", "POST", "/signup", "")
	for _, c := range []struct {
		name, user, method, path, body string
		want                           int
	}{
		{"no user", "", "GET", "/todos", "", 401},
		{"unknown user", "carol", "GET", "/todos", "", 401},
		{"signup without a name", "", "POST", "/signup", "", 422},
		{"signup with a bad name", "../etc", "POST", "/signup", "", 422},
		{"signup with a Kelvin sign", "\u212Aate", "POST", "/signup", "", 422},
		{"signup of a taken name", "ALICE", "POST", "/signup", "", 409},
		{"malformed JSON", "alice", "POST", "/todos", `{"title":`, 400},
		{"unknown field", "alice", "POST", "/todos", `{"title":"x","owner":"bob"}`, 400},
		{"wrong type", "alice", "POST", "/todos", `{"title":5}`, 400},
		{"trailing data", "alice", "POST", "/todos", `{"title":"x"} {}`, 400},
		{"blank title", "alice", "POST", "/todos", `{"title":"  "}`, 422},
		{"control character", "alice", "POST", "/todos", `{"title":"a\u0000b"}`, 422},
		{"title too long", "alice", "POST", "/todos", `{"title":"` + strings.Repeat("x", maxTitle+1) + `"}`, 422},
		{"body too large", "alice", "POST", "/todos", `{"title":"` + strings.Repeat("x", 70<<10) + `"}`, 413},
		{"done missing", "alice", "PATCH", "/todos/1", `{}`, 400},
		{"id not a number", "alice", "DELETE", "/todos/x", "", 404},
		{"no such todo", "alice", "DELETE", "/todos/99", "", 404},
		{"wrong method", "alice", "PUT", "/todos", "", 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := do(t, srv, c.user, c.method, c.path, c.body)
			if code != c.want {
				t.Errorf("%d %s, want %d", code, body, c.want)
			}
		})
	}
	if got := titles(t, srv, "alice"); len(got) != 0 {
		t.Errorf("bad requests left todos: %q", got)
	}
}

func TestTodosOutliveTheProcess(t *testing.T) {
	dir := t.TempDir()
	app, closeApp, err := open(context.Background(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	must(t, srv, 201, "alice", "POST", "/signup", "")
	must(t, srv, 201, "alice", "POST", "/todos", `{"title":"kept"}`)
	srv.Close()
	if err := closeApp(); err != nil {
		t.Fatal(err)
	}

	srv = newServer(t, dir)
	if got := titles(t, srv, "alice"); strings.Join(got, ",") != "kept" {
		t.Errorf("after reopening alice sees %q", got)
	}
}

func TestRunServesUntilCancelledThenClosesTheData(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, dir) }()

	// The listener is open already: this waits for Serve rather than failing.
	req, err := http.NewRequest("POST", "http://"+ln.Addr().String()+"/signup", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(userHeader, "alice")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d", res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	// Closed cleanly: the same directory opens again with alice in it.
	srv := newServer(t, dir)
	must(t, srv, 409, "alice", "POST", "/signup", "")
}
