//go:build stress

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"testing"
)

// The finding this pins: with `ulimit -n 420`, --max-open 50 and 330 idle
// keep-alive connections, 80 users writing got 500s (routing.db could not
// be opened) and 503s. Descriptors are one budget: serve caps connections
// at what the limit leaves beside the pool, closing idle ones to make
// room, so the writers are all answered, and none with a 500. The limit is
// now 444: the pool may also lend 12 of its 50 handles a second connection
// (2 descriptors each), and serve refuses to start where its budget does
// not fit (at 420 it would need 430).
//
//	go test -tags stress -run DescriptorBudget -count=1 .
func TestDescriptorBudgetIdleCrowdAndWriters(t *testing.T) {
	const limit, maxOpen, idlers, writers, writes = 444, 50, 330, 80, 5
	bin := buildCubby(t)
	addr, dir := freeAddr(t), t.TempDir()
	p := &process{t: t, base: "http://" + addr, done: make(chan int, 1), stderr: &syncBuffer{}}
	p.cmd = exec.Command("sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" serve --addr "$1" --data "$2" --max-open %d --signup-limit 0`,
		limit, maxOpen), bin, addr, dir)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.done <- p.cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(p.kill)
	waitReady(t, p.base, p.done)

	users := make([]*httpUser, writers)
	for i := range users {
		users[i] = newHTTPUser(fmt.Sprintf("writer%03d", i))
		code, body, err := users[i].send(p.base, "POST", "/api/v1/signup",
			map[string]string{"username": users[i].name, "password": "correct horse"})
		if err != nil || code != http.StatusCreated {
			t.Fatalf("signup %d: %d %s %v", i, code, body, err)
		}
		users[i].c.CloseIdleConnections()
	}
	for range idlers {
		parkKeepAlive(t, addr)
	}

	var mu sync.Mutex
	tally := map[string]int{}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			for i := range writes {
				code, _, err := u.send(p.base, "POST", "/api/v1/notes", map[string]string{"title": fmt.Sprint("note ", i)})
				key := fmt.Sprint(code)
				if err != nil {
					key = "no answer"
				}
				mu.Lock()
				tally[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d writes: %v", writers*writes, tally)
	if tally["201"] != writers*writes {
		t.Fatalf("writes: %v; want all %d answered 201\n%s", tally, writers*writes, p.stderr)
	}
	p.stop()
}

// parkKeepAlive makes one request on a new keep-alive connection and
// leaves it open and idle; the test's end closes it.
func parkKeepAlive(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: cubby\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("park a keep-alive connection: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
}
