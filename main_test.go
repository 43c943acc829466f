package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
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
