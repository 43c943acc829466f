package main

import (
	"context"
	"net"
	"strings"
	"testing"
)

func TestHealthcheckSaysWhetherTheServerIsReady(t *testing.T) {
	addr := freeAddr(t)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCubby(t, context.Background(), "healthcheck", "--addr", addr); code != exitFailure {
		t.Errorf("no server: exit %d, %q %q", code, out, errOut)
	}
	stop := startServe(t, addr, &syncBuffer{})
	defer stop()
	for _, a := range []string{addr, "0.0.0.0:" + port, ":" + port} {
		if code, out, errOut := runCubby(t, context.Background(), "healthcheck", "--addr", a); code != exitOK || out != "ready\n" {
			t.Errorf("--addr %s: exit %d, %q %q", a, code, out, errOut)
		}
	}
	t.Setenv("CUBBY_ADDR", addr)
	if code, _, errOut := runCubby(t, context.Background(), "healthcheck"); code != exitOK {
		t.Errorf("CUBBY_ADDR: exit %d, %q", code, errOut)
	}
}

func TestHealthcheckRefusesBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"healthcheck", "--addr", "nonsense"}, {"healthcheck", "extra"}, {"healthcheck", "--timeout", "0s"},
	} {
		code, _, errOut := runCubby(t, context.Background(), args...)
		if code != exitUsage || !strings.Contains(errOut, "usage: cubby healthcheck") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestReadyURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080":   "http://127.0.0.1:8080/readyz",
		"0.0.0.0:80":       "http://127.0.0.1:80/readyz",
		":8080":            "http://127.0.0.1:8080/readyz",
		"[::]:8080":        "http://[::1]:8080/readyz",
		"example.com:8443": "http://example.com:8443/readyz",
	} {
		if got, err := readyURL(addr); err != nil || got != want {
			t.Errorf("readyURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}
