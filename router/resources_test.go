package router

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/tenant"
)

// sampleWhile calls sample every interval until stop is closed, and
// returns the highest value it saw.
func sampleWhile(stop <-chan struct{}, interval time.Duration, sample func() int) <-chan int {
	peak := make(chan int, 1)
	go func() {
		best := sample()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				peak <- max(best, sample())
				return
			case <-t.C:
				best = max(best, sample())
			}
		}
	}()
	return peak
}

// openFilesUnder counts this process's file descriptors open on files
// below dir.
func openFilesUnder(dir string) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil &&
			strings.HasPrefix(target, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n
}

// With ten times more active users than the pool holds, the descriptors
// open on tenant files stay within what the pool's capacity and the
// requests in flight can hold: three per handle (db, -wal, -shm), for the
// handles the pool keeps, one per request in flight (held, or being closed
// by the request that evicted it) and one the background closer may be
// shutting.
func TestOpenFilesStayBoundedByPoolCapacity(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd")
	}
	const capacity, workers = 4, 6
	r := newRig(t, rigOptions{pool: tenant.Config{MaxOpen: capacity}})
	sessions := make([]*http.Cookie, 10*capacity)
	for i := range sessions {
		c := r.client()
		c.signup(fmt.Sprintf("user%02d", i), "correct horse")
		sessions[i] = c.cookie
	}
	tenants, err := filepath.EvalSymlinks(filepath.Join(r.dir, "tenants"))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	peak := sampleWhile(stop, 2*time.Millisecond, func() int { return openFilesUnder(tenants) })
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 20 * stressScale {
				c := r.client() // a user may be served by two workers at once
				c.cookie = sessions[rng.IntN(len(sessions))]
				path := "/api/v1/notes"
				if i%2 == 0 {
					if rec := c.do("POST", path, `{"title":"load"}`); rec.Code != http.StatusCreated {
						t.Errorf("create: %d %s", rec.Code, rec.Body)
						return
					}
				} else if rec := c.do("GET", path+"?q=load", nil); rec.Code != http.StatusOK {
					t.Errorf("search: %d %s", rec.Code, rec.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	bound := (capacity + workers + 1) * 3
	got := <-peak
	t.Logf("peak %d descriptors on tenant files; bound %d; pool %+v", got, bound, r.pool.Stats())
	if got == 0 || got > bound {
		t.Fatalf("peak %d descriptors on tenant files; want 1..%d", got, bound)
	}
}

// loginFloodParams are real-ish hashing parameters: enough memory per hash
// that an unbounded flood would show in the heap, cheap enough to run a
// few hundred.
func loginFloodParams() auth.Params {
	return auth.Params{Time: 1, MemoryKiB: 4 * 1024, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// login sends one JSON login from addr.
func (r *rig) login(name, password, addr string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/api/v1/login",
		strings.NewReader(fmt.Sprintf(`{"username":%q,"password":%q}`, name, password)))
	req.RemoteAddr = addr + ":4321"
	rec := httptest.NewRecorder()
	r.handler.ServeHTTP(rec, req)
	return rec
}

// Hundreds of logins at once, right, wrong and for unknown users, are all
// answered (200, 401 or 429: never a 500), and the hashing semaphore keeps
// the heap to a few hashes' worth of memory rather than one per login.
// The failures come from one address, which the throttle stops part way.
// The wait for a hashing slot is unbounded here, so that every login is
// checked however slow the machine; TestLoginWaitsForHashingBoundedly pins
// the bound.
func TestLoginFloodIsAnsweredInBoundedMemory(t *testing.T) {
	const slots, logins, users = 2, 200, 20
	p := loginFloodParams()
	r := newRig(t, rigOptions{
		hasher:   auth.NewHasher(p, slots, auth.WithMaxWait(time.Hour)),
		throttle: auth.ThrottleConfig{AddrLimit: 60},
	})
	for i := range users {
		r.client().signup(fmt.Sprintf("user%02d", i), "correct horse")
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	stop := make(chan struct{})
	peak := sampleWhile(stop, 2*time.Millisecond, func() int {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int(ms.HeapInuse)
	})
	var counts [600]atomic.Int32
	var wg sync.WaitGroup
	for i := range logins {
		wg.Go(func() {
			name, pass, addr := fmt.Sprintf("user%02d", i%users), "correct horse", fmt.Sprintf("198.51.100.%d", i%7)
			switch i % 4 {
			case 1:
				pass, addr = "wrong horse", "203.0.113.1"
			case 2:
				name, addr = fmt.Sprintf("nobody%03d", i), "203.0.113.1"
			}
			rec := r.login(name, pass, addr)
			counts[rec.Code].Add(1)
		})
	}
	wg.Wait()
	close(stop)
	got := map[int]int32{}
	for code := range counts {
		if n := counts[code].Load(); n > 0 {
			got[code] = n
		}
	}
	growth := int64(<-peak) - int64(base)
	perHash := int64(p.MemoryKiB) << 10
	t.Logf("answers %v; heap grew by %d MiB at most (one hash: %d MiB)", got, growth>>20, perHash>>20)
	if got[200] != logins/2 || got[401] != 60 || got[429] != logins/2-60 {
		t.Fatalf("answers %v; want %d 200, 60 401 and %d 429", got, logins/2, logins/2-60)
	}
	// Each hash in flight holds perHash; the garbage collector may let as
	// much again pile up before it runs. Unbounded, the flood would hold
	// one per login at once.
	if limit := 4*slots*perHash + 32<<20; growth > limit {
		t.Fatalf("heap grew by %d MiB during the flood; want under %d MiB", growth>>20, limit>>20)
	}
}

// Concurrent wrong guesses from one address at one username cannot outrun
// the throttle: of many sent at once, only the limit's worth is checked;
// the rest are throttled as if they had come one after another. The owner,
// elsewhere, is not locked out.
func TestConcurrentLoginGuessesAreThrottledAtTheLimit(t *testing.T) {
	r := newRig(t, rigOptions{hasher: auth.NewHasher(loginFloodParams(), 1, auth.WithMaxWait(time.Hour))})
	r.client().signup("alice", "correct horse")
	const guesses = 40
	var wg sync.WaitGroup
	var codes [600]atomic.Int32
	for i := range guesses {
		wg.Go(func() {
			rec := r.login("alice", fmt.Sprintf("guess %d", i), "203.0.113.9")
			codes[rec.Code].Add(1)
		})
	}
	wg.Wait()
	if n401, n429 := codes[401].Load(), codes[429].Load(); n401 != 10 || n429 != guesses-10 {
		t.Fatalf("%d wrong guesses at once: %d checked (401), %d throttled (429); want 10 and %d",
			guesses, n401, n429, guesses-10)
	}
	wantError(t, r.login("alice", "correct horse", "203.0.113.9"), 429, "too_many_attempts")
	if rec := r.login("alice", "correct horse", "192.0.2.99"); rec.Code != http.StatusOK {
		t.Fatalf("the owner from another address: %d %s; want 200", rec.Code, rec.Body)
	}
}
