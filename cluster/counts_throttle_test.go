package cluster

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/auth"
)

// fakeNow is a settable clock shared by the throttles of one test.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeNow) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeNow) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// A login throttle whose counts are in etcd, used from two nodes in
// turn, gives the answers one in-memory throttle gives to the same
// sequence of attempts, undos, successes and passing time: the shared
// counts change where the numbers live, not the rules.
func TestSharedThrottleAnswersAsOneInMemory(t *testing.T) {
	e := startEtcd(t)
	clock := &fakeNow{t: time.Unix(1_900_000_000, 0)}
	cfg := auth.ThrottleConfig{PairLimit: 3, AddrLimit: 5, UserLimit: 4, Window: 15 * time.Minute, Now: clock.Now}
	local := auth.NewThrottle(cfg)
	var shared []*auth.Throttle
	for _, id := range []string{"n1", "n2"} {
		c := cfg
		c.Counter = NewCounts(openNode(t, e.URL(), id, testTTL), CountsConfig{})
		shared = append(shared, auth.NewThrottle(c))
	}
	users := []string{"alice", "Alice", "bob", "carol"}
	addrs := []string{"192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "198.51.100.7"}
	rng := rand.New(rand.NewPCG(16, 5))
	ctx := context.Background()
	refused := 0
	for step := range 300 {
		s := shared[rng.IntN(2)]
		user, addr := users[rng.IntN(len(users))], addrs[rng.IntN(len(addrs))]
		switch op := rng.IntN(10); {
		case op < 6:
			device := rng.IntN(4) == 0
			lw, lok, _ := local.Begin(ctx, user, addr, device)
			sw, sok, err := s.Begin(ctx, user, addr, device)
			if err != nil {
				t.Fatalf("step %d: shared begin: %v", step, err)
			}
			if lw != sw || lok != sok {
				t.Fatalf("step %d: begin %s from %s (device %v): shared %v %v, in memory %v %v",
					step, user, addr, device, sw, sok, lw, lok)
			}
			if !sok {
				refused++
			}
		case op < 7:
			local.Undo(ctx, user, addr)
			if err := s.Undo(ctx, user, addr); err != nil {
				t.Fatal(err)
			}
		case op < 8:
			local.Passed(ctx, user, addr)
			if err := s.Passed(ctx, user, addr); err != nil {
				t.Fatal(err)
			}
		case op < 9:
			local.Success(ctx, user, addr)
			if err := s.Success(ctx, user, addr); err != nil {
				t.Fatal(err)
			}
		default:
			clock.advance(time.Duration(rng.IntN(300)) * time.Second)
		}
	}
	if refused < 20 {
		t.Fatalf("only %d attempts refused: the sequence hardly tests the limits", refused)
	}
	t.Logf("%d attempts refused", refused)
}
