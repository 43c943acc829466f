package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestServeRefusesBadAuthFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		env  string // CUBBY_SIGNUP_LIMIT
		want string
	}{
		{[]string{"--trusted-proxies", "10.0.0.0/33"}, "", "--trusted-proxies"},
		{[]string{"--trusted-proxies", "10.0.0.1"}, "", "CIDR"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,,nope"}, "", `"nope"`},
		{[]string{"--signup-limit", "-1"}, "", "--signup-limit"},
		{[]string{"--signup-limit", "ten"}, "", "signup-limit"},
		{nil, "ten", "CUBBY_SIGNUP_LIMIT"},
	} {
		t.Setenv("CUBBY_SIGNUP_LIMIT", c.env)
		t.Setenv("CUBBY_TRUSTED_PROXIES", "")
		args := append([]string{"serve", "--data", dir}, c.args...)
		code, _, errOut := runCubby(t, context.Background(), args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "usage: cubby serve") {
			t.Errorf("%v (env %q): exit %d, stderr %q; want exit 2 naming %s", c.args, c.env, code, errOut, c.want)
		}
	}
	t.Setenv("CUBBY_SIGNUP_LIMIT", "")
	t.Setenv("CUBBY_TRUSTED_PROXIES", "not a range")
	if code, _, errOut := runCubby(t, context.Background(), "serve", "--data", dir); code != exitUsage ||
		!strings.Contains(errOut, `"not a range"`) {
		t.Errorf("bad CUBBY_TRUSTED_PROXIES: exit %d, stderr %q", code, errOut)
	}
}

// signupFrom posts a JSON signup to a running server.
func signupFrom(t *testing.T, base, name string) *http.Response {
	t.Helper()
	res, err := http.Post(base+"/api/v1/signup", "application/json",
		strings.NewReader(fmt.Sprintf(`{"username":%q,"password":"correct horse"}`, name)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// serve limits signups to 10 per client address per hour by default;
// --signup-limit (or CUBBY_SIGNUP_LIMIT) changes it.
func TestServeLimitsSignupsPerAddressByDefault(t *testing.T) {
	t.Setenv("CUBBY_SIGNUP_LIMIT", "")
	addr := freeAddr(t)
	stop := startServe(t, addr, &syncBuffer{})
	for i := range 10 {
		if res := signupFrom(t, "http://"+addr, fmt.Sprint("user", i)); res.StatusCode != http.StatusCreated {
			t.Fatalf("signup %d: %d", i+1, res.StatusCode)
		}
	}
	res := signupFrom(t, "http://"+addr, "user10")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("11th signup: %d, Retry-After %q; want 429 with one", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}

	t.Setenv("CUBBY_SIGNUP_LIMIT", "1")
	addr = freeAddr(t)
	stop = startServe(t, addr, &syncBuffer{}, "--signup-limit", "2")
	for i := range 2 {
		if res := signupFrom(t, "http://"+addr, fmt.Sprint("user", i)); res.StatusCode != http.StatusCreated {
			t.Fatalf("--signup-limit 2: signup %d: %d", i+1, res.StatusCode)
		}
	}
	if res := signupFrom(t, "http://"+addr, "user2"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("--signup-limit 2: third signup %d; want 429", res.StatusCode)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}
