package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/datadir"
)

func runCubby(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}, {"serve", "-h"}} {
		code, out, _ := runCubby(t, context.Background(), args...)
		if code != exitOK || !strings.Contains(out, "usage: cubby") {
			t.Errorf("%v: exit %d, stdout %q", args, code, out)
		}
	}
}

func TestBadUsageExitsTwo(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{}, {"nope"}, {"serve", "--bogus"}, {"serve", "--data", dir, "extra"},
		{"serve", "--data", dir, "--max-open", "0"}, {"serve", "--max-open", "many"},
		{"serve", "--data", dir, "--idle-checkpoint", "-1s"},
		{"serve", "--data", dir, "--memo-mib", "-1"},
	} {
		code, _, errOut := runCubby(t, context.Background(), args...)
		if code != exitUsage || !strings.Contains(errOut, "usage: cubby") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestFlagsBeforeAndAfterArguments(t *testing.T) {
	cases := []struct {
		args, pos []string
		data      string
	}{
		{[]string{"--data", "d", "a", "b"}, []string{"a", "b"}, "d"},
		{[]string{"a", "--data", "d", "b"}, []string{"a", "b"}, "d"},
		{[]string{"a", "b", "--data=d"}, []string{"a", "b"}, "d"},
		{[]string{"a", "--", "--data", "d"}, []string{"a", "--data", "d"}, "def"},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		data := fs.String("data", "def", "")
		pos, err := parseInterspersed(fs, c.args)
		if err != nil || !slices.Equal(pos, c.pos) || *data != c.data {
			t.Errorf("%v: pos %v data %q err %v; want %v %q", c.args, pos, *data, err, c.pos, c.data)
		}
	}
}

func TestServeRefusesASecondWriter(t *testing.T) {
	dir := t.TempDir()
	lock, err := datadir.TakeLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	code, _, errOut := runCubby(t, context.Background(), "serve", "--data", dir, "--addr", "127.0.0.1:0")
	want := "another cubby process (serve, migrate, delete-user or restore) is using " + dir
	if code != exitFailure || !strings.Contains(errOut, want) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestServeRunsAndShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := filepath.Join(t.TempDir(), "fresh")
	t.Setenv("CUBBY_DATA", dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- run(ctx, []string{"serve", "--addr", addr}, &bytes.Buffer{}, &stderr) }()

	base := "http://" + addr
	waitReady(t, base, done)
	res, err := http.Post(base+"/api/v1/signup", "application/json",
		strings.NewReader(`{"username":"alice","password":"correct horse"}`))
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %v %v", res, err)
	}
	res.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	for _, name := range []string{"", "routing.db", "tenants"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", name, fi.Mode().Perm())
		}
	}
	if !strings.Contains(stderr.String(), "recovered data directory") {
		t.Errorf("no recovery log line: %s", stderr.String())
	}
}

// waitReady polls /readyz until the server answers or gives up.
func waitReady(t *testing.T, base string, done chan int) {
	t.Helper()
	for range 200 {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d", code)
		default:
		}
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("server never became ready")
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// httpGet fetches url and returns the status and body.
func httpGet(t *testing.T, url string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// startServe runs cubby serve with args on a fresh data directory until the
// test ends, waits until it is ready on addr, and returns what stops it and
// waits for its exit code.
func startServe(t *testing.T, addr string, stderr *syncBuffer, args ...string) (stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	args = append([]string{"serve", "--addr", addr, "--data", t.TempDir()}, args...)
	go func() { done <- run(ctx, args, io.Discard, stderr) }()
	stop = func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
			return -1
		}
	}
	waitReady(t, "http://"+addr, done)
	return stop
}

// syncBuffer collects a server's log while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// /metrics is never on the public address: without --metrics-addr there
// is none at all.
func TestServeHasNoMetricsOnTheMainAddress(t *testing.T) {
	addr := freeAddr(t)
	stop := startServe(t, addr, &syncBuffer{})
	if code, _, body := httpGet(t, "http://"+addr+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the main address: %d\n%s", code, body)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

func TestServeMetricsOnTheirOwnAddress(t *testing.T) {
	addr, maddr := freeAddr(t), freeAddr(t)
	var stderr syncBuffer
	stop := startServe(t, addr, &stderr, "--metrics-addr", maddr, "--log-format", "json", "--max-open", "7")
	if code, _, _ := httpGet(t, "http://"+addr+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the main address: %d", code)
	}
	if code, _, _ := httpGet(t, "http://"+maddr+"/healthz"); code != http.StatusNotFound {
		t.Fatalf("/healthz on the metrics address: %d", code)
	}
	_, h, _ := httpGet(t, "http://"+addr+"/healthz", "X-Request-Id", "probe-1")
	if h.Get("X-Request-Id") != "probe-1" {
		t.Fatalf("X-Request-Id %q", h.Get("X-Request-Id"))
	}
	// The operator page and its stylesheet are on the metrics address
	// only; the main address's / is the app's landing page.
	if code, h, body := httpGet(t, "http://"+maddr+"/"); code != http.StatusOK ||
		!strings.Contains(body, "Migrations pending") || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("operator page: %d\n%s", code, body)
	}
	if code, _, _ := httpGet(t, "http://"+maddr+"/static/style.css"); code != http.StatusOK {
		t.Fatalf("operator stylesheet: %d", code)
	}
	if code, _, body := httpGet(t, "http://"+addr+"/"); code != http.StatusOK || strings.Contains(body, "Migrations pending") {
		t.Fatalf("the main address's / is the operator page: %d\n%s", code, body)
	}
	code, _, body := httpGet(t, "http://"+maddr+"/metrics")
	for _, want := range []string{
		"cubby_pool_capacity 7", "cubby_tenants 0", `cubby_logins_total{result="ok"} 0`,
		`cubby_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`cubby_http_requests_total{method="GET",route="/healthz",status="200"} 1`, "go_goroutines", "process_",
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("metrics address: %d, no %q in\n%s", code, want, body)
		}
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := net.DialTimeout("tcp", maddr, time.Second); err == nil {
		t.Fatal("the metrics listener outlived serve")
	}
	wantJSONRequestLine(t, stderr.String(), "probe-1", "/healthz")
}

// wantJSONRequestLine checks that every log line is JSON and that the
// request with id was logged with its route and status.
func wantJSONRequestLine(t *testing.T, logs, id, route string) {
	t.Helper()
	found := false
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if rec["msg"] == "request" && rec["request_id"] == id {
			found = rec["route"] == route && rec["status"] == float64(200) && rec["duration"] != nil
		}
	}
	if !found {
		t.Fatalf("no request line for %s on %s:\n%s", id, route, logs)
	}
}

func TestServeRefusesBadLogFormatAndMetricsAddr(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"serve", "--data", dir, "--log-format", "xml"},
		{"serve", "--data", dir, "--log-format", ""},
		{"serve", "--data", dir, "--addr", "127.0.0.1:9", "--metrics-addr", "127.0.0.1:9"},
	} {
		code, _, errOut := runCubby(t, context.Background(), args...)
		if code != exitUsage || !strings.Contains(errOut, "usage: cubby serve") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// Every phase of a connection is bounded: a client that sends its headers
// slowly, its body slowly, reads its answer slowly or idles between
// requests is cut off in the end (the App also sets a write deadline per
// answer; see router.Config.WriteTimeout).
func TestServerBoundsSlowClients(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 || d > 5*time.Minute {
			t.Errorf("%s = %v", name, d)
		}
	}
	if srv.ReadHeaderTimeout > 10*time.Second {
		t.Errorf("ReadHeaderTimeout = %v; a header needs no more than seconds", srv.ReadHeaderTimeout)
	}
}
