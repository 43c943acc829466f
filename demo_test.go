package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// demoBanner is what cubby demo prints: where it serves, how to sign in,
// and where its data lives.
type demoBanner struct {
	url, dir  string
	passwords map[string]string
}

// readDemoBanner reads the banner from r, then drains r in the background.
func readDemoBanner(t *testing.T, r io.Reader) demoBanner {
	t.Helper()
	b := demoBanner{passwords: map[string]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "open":
			b.url = f[1]
		case len(f) >= 4 && f[0] == "username" && f[2] == "password":
			b.passwords[f[1]] = f[3]
		case len(f) == 2 && f[0] == "data:":
			b.dir = f[1]
		}
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			go io.Copy(io.Discard, r) //nolint:errcheck // only keeps the writer unblocked
			return b
		}
	}
	t.Fatalf("demo ended before its banner was complete: %+v (%v)", b, sc.Err())
	return b
}

// signIn logs in over the JSON API and returns a client holding the session.
func signIn(t *testing.T, base, name, password string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	body, err := json.Marshal(map[string]string{"username": name, "password": password})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Post(base+"/api/v1/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("login as %s: %d", name, res.StatusCode)
	}
	return c
}

// noteTitles lists the signed-in user's notes.
func noteTitles(t *testing.T, c *http.Client, base string) []string {
	t.Helper()
	res, err := c.Get(base + "/api/v1/notes")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("list notes: %d", res.StatusCode)
	}
	var page struct{ Notes []struct{ Title string } }
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range page.Notes {
		out = append(out, n.Title)
	}
	return out
}

func TestDemoServesSeededAccountsAndRemovesItsData(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0"}, pw, stderr)
		pw.Close()
	}()
	b := readDemoBanner(t, pr)
	if filepath.Dir(b.dir) != tmp {
		t.Fatalf("demo data in %q, want a folder of TMPDIR %s", b.dir, tmp)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "routing.db")); err != nil {
		t.Fatalf("demo data directory while serving: %v", err)
	}
	if len(b.passwords) != 2 || b.passwords["alice"] == "" || b.passwords["alice"] == b.passwords["bob"] {
		t.Fatalf("passwords printed: %v", b.passwords)
	}
	want := map[string]int{}
	for _, a := range demoAccounts() {
		want[a.name] = len(a.notes)
	}
	for name, pw := range b.passwords {
		got := noteTitles(t, signIn(t, b.url, name, pw), b.url)
		if len(got) != want[name] {
			t.Errorf("%s sees notes %q, want %d of them", name, got, want[name])
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("demo exited %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop")
	}
	if _, err := os.Stat(b.dir); !os.IsNotExist(err) {
		t.Errorf("demo data directory after exit: %v, want it gone", err)
	}
}

func TestDemoRemovesItsDataWhenItCannotStart(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, stdout, stderr := runCubby(t, context.Background(), "demo", "--addr", busy.Addr().String())
	if code != exitFailure || !strings.Contains(stderr, "address already in use") {
		t.Errorf("demo on a busy address: exit %d, %q %q", code, stdout, stderr)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("demo left %v in TMPDIR", left)
	}
}

func TestDemoRefusesBadUsage(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, args := range [][]string{{"demo", "--bogus"}, {"demo", "extra"}, {"demo", "--data", "x"}} {
		code, _, errOut := runCubby(t, context.Background(), args...)
		if code != exitUsage || !strings.Contains(errOut, "usage: cubby demo") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
		t.Errorf("refused demo left %v in TMPDIR (%v)", left, err)
	}
}
