//go:build stress

// Crash safety with the real binary: cubby is built, served on loopback,
// killed with SIGKILL while clients write or sign up, and started again.
// Run with
//
//	go test -race -tags stress -run Crash -count=1 .
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// buildCubby builds this module's binary into a temp dir. It is built
// without the race detector, which would slow it down tenfold: the
// in-process tests look for races, these for lost writes.
func buildCubby(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cubby")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is one `cubby serve` of the built binary.
type process struct {
	t      *testing.T
	base   string
	cmd    *exec.Cmd
	done   chan int
	stderr *syncBuffer
}

// startCubby serves dir with the binary on a free loopback port, with
// extra flags, and waits until it is ready.
func startCubby(t *testing.T, bin, dir string, extra ...string) *process {
	t.Helper()
	addr := freeAddr(t)
	p := &process{t: t, base: "http://" + addr, done: make(chan int, 1), stderr: &syncBuffer{}}
	args := append([]string{"serve", "--addr", addr, "--data", dir, "--max-open", "8", "--signup-limit", "0"}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.done <- p.cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() { p.kill() })
	waitReady(t, p.base, p.done)
	return p
}

// kill ends the server with SIGKILL, as a crash or the OOM killer would,
// and waits for it to be gone. It is safe to call twice.
func (p *process) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// stop ends the server with SIGTERM and wants a clean exit.
func (p *process) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case code := <-p.done:
		if code != exitOK {
			p.t.Fatalf("serve exited %d after SIGTERM:\n%s", code, p.stderr)
		}
	case <-time.After(time.Minute):
		p.t.Fatal("serve did not stop after SIGTERM")
	}
}

// httpUser is one account and a client that keeps its session cookie. The
// cookie jar is by host, not port, so it carries over to a restarted
// server on another port.
type httpUser struct {
	name string
	c    *http.Client
}

func newHTTPUser(name string) *httpUser {
	jar, _ := cookiejar.New(nil)
	return &httpUser{name: name, c: &http.Client{Jar: jar, Timeout: time.Minute}}
}

// send makes one JSON request and returns the status and body; err means
// no answer came (the server died).
func (u *httpUser) send(base, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := u.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// checkData runs tenant.Check and the check command on dir and wants both
// to find nothing wrong.
func checkData(t *testing.T, bin, dir string) {
	t.Helper()
	rep, err := tenant.Check(context.Background(), dir, tenant.CheckOptions{})
	if err != nil || !rep.OK() {
		var b strings.Builder
		rep.WriteTo(&b)
		t.Fatalf("tenant.Check: %v\n%s", err, b.String())
	}
	out, err := exec.Command(bin, "check", "--data", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": ok") {
		t.Fatalf("cubby check: %v\n%s", err, out)
	}
}

// noteWriter is one user writing notes one request at a time, with what the
// server acknowledged and the one request that may be in flight at a crash.
type noteWriter struct {
	*httpUser
	acked   map[int64]string // note id → body the server acknowledged
	pending *pendingWrite
	seq     int
}

type pendingWrite struct {
	method string
	id     int64 // 0 for a create
	body   string
}

// write does one random write against base; it returns false once the
// server stops answering, leaving the write in pending.
func (w *noteWriter) write(base string, rng *rand.Rand) (bool, error) {
	w.seq++
	body := fmt.Sprintf("%s write %d", w.name, w.seq)
	p := &pendingWrite{method: "POST", body: body}
	ids := make([]int64, 0, len(w.acked))
	for id := range w.acked {
		ids = append(ids, id)
	}
	if len(ids) > 0 && rng.IntN(10) < 4 {
		p.id = ids[rng.IntN(len(ids))]
		p.method = "PUT"
		if rng.IntN(4) == 0 {
			p.method, p.body = "DELETE", ""
		}
	}
	w.pending = p
	path := "/api/v1/notes"
	if p.id != 0 {
		path = fmt.Sprintf("%s/%d", path, p.id)
	}
	var payload any
	if p.method != "DELETE" {
		payload = map[string]string{"title": "t", "body": body}
	}
	code, b, err := w.send(base, p.method, path, payload)
	if err != nil {
		return false, nil // no answer: the write may or may not have happened
	}
	switch {
	case p.method == "POST" && code == http.StatusCreated:
		var n struct{ ID int64 }
		if err := json.Unmarshal(b, &n); err != nil {
			return false, err
		}
		w.acked[n.ID] = body
	case p.method == "PUT" && code == http.StatusOK:
		w.acked[p.id] = body
	case p.method == "DELETE" && code == http.StatusNoContent:
		delete(w.acked, p.id)
	default:
		return false, fmt.Errorf("%s %s %s: %d %s", w.name, p.method, path, code, b)
	}
	w.pending = nil
	return true, nil
}

// verify lists the user's notes from base and checks that every
// acknowledged write is there, allowing only the one in flight at the
// crash to have happened or not.
func (w *noteWriter) verify(base string) error {
	code, b, err := w.send(base, "GET", "/api/v1/notes?limit=1000", nil)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("%s: list after restart: %d %v %s", w.name, code, err, b)
	}
	var list struct {
		Notes []struct {
			ID   int64
			Body string
		}
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	got := map[int64]string{}
	for _, n := range list.Notes {
		got[n.ID] = n.Body
	}
	p := w.pending
	for id, body := range w.acked {
		g, ok := got[id]
		maybe := p != nil && p.id == id
		switch {
		case ok && g == body:
		case maybe && p.method == "PUT" && g == p.body:
			w.acked[id] = g
		case maybe && p.method == "DELETE" && !ok:
			delete(w.acked, id)
		default:
			return fmt.Errorf("%s: acknowledged note %d = %q is %q (present %v) after the crash", w.name, id, body, g, ok)
		}
		delete(got, id)
	}
	for id, body := range got {
		if p == nil || p.method != "POST" || body != p.body || len(got) > 1 {
			return fmt.Errorf("%s: note %d %q appeared from nowhere after the crash", w.name, id, body)
		}
		w.acked[id] = body // the create in flight made it to disk
	}
	w.pending = nil
	return nil
}

// Every write that got a 2xx survives a SIGKILL in the middle of many
// clients writing at once, round after round.
func TestCrashMidWritesLosesNothingAcknowledged(t *testing.T) {
	bin := buildCubby(t)
	dir := filepath.Join(t.TempDir(), "data")
	srv := startCubby(t, bin, dir)
	var ws []*noteWriter
	for i := range 24 {
		u := newHTTPUser(fmt.Sprintf("writer%02d", i))
		code, b, err := u.send(srv.base, "POST", "/api/v1/signup", map[string]string{"username": u.name, "password": "correct horse"})
		if err != nil || code != http.StatusCreated {
			t.Fatalf("signup %s: %d %v %s", u.name, code, err, b)
		}
		ws = append(ws, &noteWriter{httpUser: u, acked: map[int64]string{}})
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	for round := range 4 {
		var wg sync.WaitGroup
		var acked atomic.Int64
		for i, w := range ws {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(seed, uint64(round*100+i)))
				for {
					ok, err := w.write(srv.base, rng)
					if err != nil {
						t.Error(err)
					}
					if !ok {
						return
					}
					acked.Add(1)
				}
			})
		}
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		srv.kill()
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		srv = startCubby(t, bin, dir)
		pending := 0
		for _, w := range ws {
			if w.pending != nil {
				pending++
			}
			if err := w.verify(srv.base); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		t.Logf("round %d: killed after %d acknowledged writes, %d in flight; all there after restart", round, acked.Load(), pending)
		checkData(t, bin, dir)
	}
	srv.stop()
	checkData(t, bin, dir)
}

// A SIGKILL during a burst of signups leaves no half-made tenant once the
// server is back: no provisioning row, no row without a file, no file
// without a row, and every user who got 201 can log in; a signup that got
// no answer either fully happened or can be made again.
func TestCrashDuringSignupsLeavesNoHalfMadeTenant(t *testing.T) {
	bin := buildCubby(t)
	dir := filepath.Join(t.TempDir(), "data")
	srv := startCubby(t, bin, dir)
	for round := range 3 {
		const burst = 40
		codes := make([]int, burst)
		users := make([]*httpUser, burst)
		var created atomic.Int32
		enough := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for i := range burst {
			users[i] = newHTTPUser(fmt.Sprintf("burst%d-%02d", round, i))
			wg.Go(func() {
				code, _, err := users[i].send(srv.base, "POST", "/api/v1/signup",
					map[string]string{"username": users[i].name, "password": "correct horse"})
				if err == nil {
					codes[i] = code
				}
				if code == http.StatusCreated && created.Add(1) >= burst/4 {
					once.Do(func() { close(enough) })
				}
			})
		}
		select {
		case <-enough:
		case <-time.After(time.Minute):
			t.Fatal("signups too slow")
		}
		srv.kill()
		wg.Wait()
		srv = startCubby(t, bin, dir)
		checkData(t, bin, dir)
		if orphans, _ := os.ReadDir(filepath.Join(dir, "orphans")); len(orphans) != 0 {
			t.Fatalf("round %d: %d files without a row after the crash", round, len(orphans))
		}
		lost := 0
		for i, u := range users {
			if codes[i] == http.StatusCreated {
				if code, b, err := u.send(srv.base, "GET", "/api/v1/me", nil); err != nil || code != http.StatusOK {
					t.Fatalf("%s got 201, but its session after restart: %d %v %s", u.name, code, err, b)
				}
			}
			code, b, err := newHTTPUser(u.name).send(srv.base, "POST", "/api/v1/login",
				map[string]string{"username": u.name, "password": "correct horse"})
			switch {
			case err != nil:
				t.Fatal(err)
			case code == http.StatusOK:
			case codes[i] == http.StatusCreated:
				t.Fatalf("%s got 201 but cannot log in after the crash: %d %s", u.name, code, b)
			case code == http.StatusUnauthorized:
				lost++ // never made: the name must be free again
				if code, b, _ := u.send(srv.base, "POST", "/api/v1/signup",
					map[string]string{"username": u.name, "password": "correct horse"}); code != http.StatusCreated {
					t.Fatalf("%s was half-made: signing up again: %d %s", u.name, code, b)
				}
			default:
				t.Fatalf("%s: login after the crash: %d %s", u.name, code, b)
			}
		}
		recovered := regexp.MustCompile(`recovered data directory.*`).FindString(srv.stderr.String())
		if recovered == "" {
			t.Fatalf("no recovery at start:\n%s", srv.stderr)
		}
		t.Logf("round %d: killed after %d signups answered 201; %d unanswered were never made; %s",
			round, created.Load(), lost, recovered)
	}
	srv.stop()
	checkData(t, bin, dir)
}
