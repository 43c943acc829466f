package main

// The load generator behind cubby bench (see cmd_bench.go): a population
// of signed-up users, each with its own cookie jar, driven by workers.

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// benchUser is one signed-up user with its own cookie jar and a note, and
// the requests the load makes as that user, built once (see loadwire.go).
type benchUser struct {
	client                    *http.Client
	password                  string
	noteURL                   string
	read, write, search, list wireRequest
}

// population is the users a run signed up on the server at base.
type population struct {
	base  string
	host  string // base's host:port, which the workers dial
	users []*benchUser
	// writers is how many of users write-many spreads its writes over
	// (--users); read-spread reads from all of them.
	writers int
	healthz wireRequest
}

func newBenchClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0, IdleConnTimeout: time.Minute}
	return &http.Client{Jar: jar, Transport: tr, Timeout: time.Minute}
}

func randomHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}

// signupUsers signs up n users (8 at a time) and gives each a first note.
func signupUsers(ctx context.Context, base string, n int) (*population, error) {
	pop := &population{base: strings.TrimRight(base, "/"), users: make([]*benchUser, n), writers: n}
	u, err := url.Parse(pop.base)
	if err != nil || u.Host == "" {
		return pop, &usageError{fmt.Sprintf("bad --url %q: want http://HOST:PORT", base)}
	}
	pop.host = u.Host
	pop.healthz = newWireRequest("GET", pop.host, "/healthz", "", nil, http.StatusOK)
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
	p.prepare(u)
	return u, nil
}

// prepare builds u's requests, with the cookies its jar holds.
func (p *population) prepare(u *benchUser) {
	base, _ := url.Parse(p.base)
	var cookies []string
	for _, c := range u.client.Jar.Cookies(base) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	cookie := strings.Join(cookies, "; ")
	note := []byte(`{"title":"load","body":"written by cubby bench"}`)
	u.read = newWireRequest("GET", p.host, u.noteURL, cookie, nil, http.StatusOK)
	u.write = newWireRequest("POST", p.host, "/api/v1/notes", cookie, note, http.StatusCreated)
	u.search = newWireRequest("GET", p.host, "/api/v1/notes?q=apples", cookie, nil, http.StatusOK)
	u.list = newWireRequest("GET", p.host, "/api/v1/notes?limit=20", cookie, nil, http.StatusOK)
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

// op returns the request worker w makes next (its i-th) in scenario name;
// rng is the worker's own.
func (p *population) op(name string, w, i int, rng *rand.Rand) wireRequest {
	switch name {
	case "healthz":
		return p.healthz
	case "read", "read-again", "read-after-burst":
		return p.users[0].read
	case "read-spread":
		return p.users[rng.IntN(len(p.users))].read
	case "write-one":
		return p.users[0].write
	case "write-many":
		return p.users[w%p.writers].write
	}
	u := p.users[(w+i)%len(p.users)]
	switch i % 10 { // mixed: 60% reads, 20% writes, 10% searches, 10% lists
	case 0, 1:
		return u.write
	case 2:
		return u.search
	case 3:
		return u.list
	}
	return u.read
}

// drive runs scenario name with o.concurrency workers, a connection each
// to addr, for d; next gives each worker its requests.
func drive(ctx context.Context, name, addr string, o benchOptions, d time.Duration,
	next func(w, i int, rng *rand.Rand) wireRequest,
) benchResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu  sync.Mutex
		res = benchResult{name: name}
		wg  sync.WaitGroup
	)
	cpu := startCPUMeter()
	start := time.Now()
	for w := range o.concurrency {
		wg.Go(func() {
			conn := &wireConn{addr: addr, timeout: time.Minute}
			defer conn.close()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(len(name))))
			lat := make([]time.Duration, 0, 1024)
			var ok, errs int
			var first error
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				if err := conn.do(next(w, i, rng)); err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				ok++
				lat = append(lat, time.Since(t0))
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
	res.cpu = cpu.stop()
	slices.Sort(res.lat)
	return res
}

// run drives scenario name against the population's server.
func (p *population) run(ctx context.Context, name string, o benchOptions, d time.Duration) benchResult {
	return drive(ctx, name, p.host, o, d, func(w, i int, rng *rand.Rand) wireRequest { return p.op(name, w, i, rng) })
}
