package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"cubby/datadir"
)

func TestBenchDrivesAServerAndCleansUp(t *testing.T) {
	a := openTestApp(t, t.TempDir())
	srv := httptest.NewServer(a.app)
	defer srv.Close()
	out, _ := wantRun(t, exitOK, nil, "bench", "--url", srv.URL, "--users", "3", "--concurrency", "3", "--duration", "200ms")
	for _, want := range []string{"healthz", "read", "write-one", "write-many", "mixed", "read / healthz:", "write-many / write-one:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "mixed" && f[2] != "0" {
			t.Errorf("mixed had errors: %s", line)
		}
	}
	if n, err := a.d.Routing().Count(context.Background()); err != nil || n != 0 {
		t.Errorf("%d users left after bench (err %v); want 0", n, err)
	}
}

func TestBenchRefusesBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--scenario", "nope"},
		{"bench", "--users", "0"},
		{"bench", "extra"},
	} {
		wantRun(t, exitUsage, nil, args...)
	}
}

// A server whose signup limit is below --users refuses some of the bench's
// signups; bench says which flag to change, and leaves no users behind.
func TestBenchNamesTheSignupLimitWhenItIsHit(t *testing.T) {
	a := openTestAppWith(t, t.TempDir(), datadir.Options{SignupLimit: 2})
	srv := httptest.NewServer(a.app)
	defer srv.Close()
	_, errOut := wantRun(t, exitFailure, nil, "bench", "--url", srv.URL, "--users", "3", "--concurrency", "1", "--duration", "50ms")
	if !strings.Contains(errOut, "--signup-limit 0") {
		t.Fatalf("stderr does not name --signup-limit 0:\n%s", errOut)
	}
	if n, err := a.d.Routing().Count(context.Background()); err != nil || n != 0 {
		t.Errorf("%d users left after bench (err %v); want 0", n, err)
	}
}
