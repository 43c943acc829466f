package main

// The load generator behind cubby bench (see cmd_bench.go): a population
// of signed-up users, each with its own cookie jar, driven by workers.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"sync"
	"time"
)

// benchUser is one signed-up user with its own cookie jar and a note.
type benchUser struct {
	client   *http.Client
	password string
	noteURL  string
}

type population struct {
	base  string
	users []*benchUser
}

func newBenchClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0, IdleConnTimeout: time.Minute}
	return &http.Client{Jar: jar, Transport: tr, Timeout: time.Minute}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// signupUsers signs up n users (8 at a time) and gives each a first note.
func signupUsers(ctx context.Context, base string, n int) (*population, error) {
	pop := &population{base: strings.TrimRight(base, "/"), users: make([]*benchUser, n)}
	prefix := "bench-" + randomHex(4)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, 8)
	)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			u, err := pop.signup(ctx, fmt.Sprintf("%s-%d", prefix, i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			pop.users[i] = u
		})
	}
	wg.Wait()
	return pop, firstErr
}

func (p *population) signup(ctx context.Context, name string) (*benchUser, error) {
	u := &benchUser{client: newBenchClient(), password: randomHex(12)}
	creds := map[string]string{"username": name, "password": u.password}
	if resp, err := p.do(ctx, u, "POST", "/api/v1/signup", creds, http.StatusCreated); err != nil {
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			return nil, fmt.Errorf("sign up %s: %w (the server's signup limit: run it with --signup-limit 0 while benchmarking)", name, err)
		}
		return nil, fmt.Errorf("sign up %s: %w", name, err)
	}
	resp, err := p.do(ctx, u, "POST", "/api/v1/notes",
		map[string]string{"title": "benchmark note", "body": "apples and pears, read again and again"}, http.StatusCreated)
	if err != nil {
		return u, fmt.Errorf("first note for %s: %w", name, err)
	}
	u.noteURL = resp.Header.Get("Location")
	return u, nil
}

// do sends one request and checks its status; the body is drained.
func (p *population) do(ctx context.Context, u *benchUser, method, path string, body any, want int) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != want {
		return resp, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return resp, nil
}

// cleanup deletes every user the run signed up.
func (p *population) cleanup(stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, u := range p.users {
		if u == nil {
			continue
		}
		if _, err := p.do(ctx, u, "DELETE", "/api/v1/account", map[string]string{"password": u.password}, http.StatusNoContent); err != nil {
			fmt.Fprintf(stderr, "cubby bench: could not delete a bench user: %v\n", err)
		}
	}
}

// op returns the request worker w makes next in scenario name.
func (p *population) op(name string, w, i int) (u *benchUser, method, path string, body any, want int) {
	note := map[string]string{"title": "load", "body": "written by cubby bench"}
	switch name {
	case "healthz":
		return p.users[0], "GET", "/healthz", nil, http.StatusOK
	case "read":
		return p.users[0], "GET", p.users[0].noteURL, nil, http.StatusOK
	case "write-one":
		return p.users[0], "POST", "/api/v1/notes", note, http.StatusCreated
	case "write-many":
		return p.users[w%len(p.users)], "POST", "/api/v1/notes", note, http.StatusCreated
	}
	u = p.users[(w+i)%len(p.users)]
	switch i % 10 { // mixed: 60% reads, 20% writes, 10% searches, 10% lists
	case 0, 1:
		return u, "POST", "/api/v1/notes", note, http.StatusCreated
	case 2:
		return u, "GET", "/api/v1/notes?q=apples", nil, http.StatusOK
	case 3:
		return u, "GET", "/api/v1/notes?limit=20", nil, http.StatusOK
	}
	return u, "GET", u.noteURL, nil, http.StatusOK
}

// run drives scenario name with o.concurrency workers for o.duration.
func (p *population) run(ctx context.Context, name string, o benchOptions) benchResult {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var (
		mu  sync.Mutex
		res = benchResult{name: name}
		wg  sync.WaitGroup
	)
	start := time.Now()
	for w := range o.concurrency {
		wg.Go(func() {
			var lat []time.Duration
			var ok, errs int
			var first error
			for i := 0; ctx.Err() == nil; i++ {
				u, method, path, body, want := p.op(name, w, i)
				t0 := time.Now()
				_, err := p.do(ctx, u, method, path, body, want)
				switch {
				case err == nil:
					ok++
					lat = append(lat, time.Since(t0))
				case ctx.Err() == nil || !errors.Is(err, context.DeadlineExceeded):
					errs++
					if first == nil {
						first = err
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.ok, res.errs = res.ok+ok, res.errs+errs
			res.lat = append(res.lat, lat...)
			if res.firstErr == nil {
				res.firstErr = first
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.lat)
	return res
}
