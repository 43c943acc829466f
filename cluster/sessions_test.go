package cluster

import (
	"sync"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/auth"
)

// clock is a settable clock shared by the nodes of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// openSessions opens n's session store on the test's clock.
func openSessions(t testing.TB, n *Node, cfg SessionConfig) *Sessions {
	t.Helper()
	s, err := OpenSessions(testCtx(t), n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sessionData is what scs stores for a session signed in as tenant.
func sessionData(t testing.TB, tenant string, deadline time.Time) []byte {
	t.Helper()
	b, err := auth.SessionCodec{}.Encode(deadline, map[string]any{auth.SessionTenantKey: tenant})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// threeStores opens three nodes' session stores on one etcd and clock.
func threeStores(t *testing.T, cfg SessionConfig) (a, b, c *Sessions, clk *clock) {
	e := startEtcd(t)
	clk = &clock{now: time.Now()}
	cfg.Now = clk.Now
	var ss []*Sessions
	for _, id := range []string{"a", "b", "c"} {
		ss = append(ss, openSessions(t, openNode(t, e.URL(), id, testTTL), cfg))
	}
	return ss[0], ss[1], ss[2], clk
}

func mustFind(t *testing.T, s *Sessions, token, what string) []byte {
	t.Helper()
	b, ok, err := s.Find(token)
	if err != nil || !ok {
		t.Fatalf("%s: found %v, err %v", what, ok, err)
	}
	return b
}

func mustNotFind(t *testing.T, s *Sessions, token, what string) {
	t.Helper()
	if _, ok, err := s.Find(token); err != nil || ok {
		t.Fatalf("%s: found %v, err %v; want not found", what, ok, err)
	}
}

func TestSessionMadeOnOneNodeWorksOnAll(t *testing.T) {
	a, b, c, clk := threeStores(t, SessionConfig{})
	data := sessionData(t, "t1", clk.Now().Add(auth.SessionLifetime))
	if err := a.Commit("tok", data, clk.Now().Add(auth.SessionLifetime)); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Sessions{"a": a, "b": b, "c": c} {
		if got := mustFind(t, s, "tok", "find on "+name); string(got) != string(data) {
			t.Fatalf("node %s found other data", name)
		}
	}
	mustNotFind(t, b, "other", "an unknown token")
	mustNotFind(t, b, "", "the empty token")
	if err := b.Delete("never-made"); err != nil {
		t.Fatalf("deleting an unknown token: %v", err)
	}
}

func TestLogoutOnOneNodeEndsTheSessionOnAnother(t *testing.T) {
	a, _, c, clk := threeStores(t, SessionConfig{})
	exp := clk.Now().Add(time.Hour)
	if err := a.Commit("tok", sessionData(t, "t1", exp), exp); err != nil {
		t.Fatal(err)
	}
	mustFind(t, c, "tok", "c before logout") // now cached on c
	if _, ok := c.v.get(digestOf("tok")); !ok {
		t.Fatal("c did not cache the session it found")
	}
	start := time.Now()
	if err := a.Delete("tok"); err != nil {
		t.Fatal(err)
	}
	await(t, c.m, "c's cache drops the session", func() bool { _, ok := c.v.get(digestOf("tok")); return !ok })
	t.Logf("logout on a reached c's cache in %v", time.Since(start))
	mustNotFind(t, c, "tok", "c after logout on a")
	mustNotFind(t, a, "tok", "a after its own logout")
}

func TestDeleteTenantEndsAllItsSessionsEverywhere(t *testing.T) {
	a, b, c, clk := threeStores(t, SessionConfig{})
	exp := clk.Now().Add(time.Hour)
	for tok, tenant := range map[string]string{"x1": "t1", "x2": "t1", "y": "t2", "anon": ""} {
		if err := a.Commit(tok, sessionData(t, tenant, exp), exp); err != nil {
			t.Fatal(err)
		}
		mustFind(t, c, tok, "c caches "+tok)
	}
	if n, err := b.DeleteTenant(testCtx(t), "t1"); err != nil || n != 2 {
		t.Fatalf("delete t1's sessions: %d, %v; want 2", n, err)
	}
	if n, err := b.DeleteTenant(testCtx(t), "t1"); err != nil || n != 0 {
		t.Fatalf("delete t1's sessions again: %d, %v; want 0", n, err)
	}
	// Every node drops them as its watch brings the deletion (a cache that
	// has not yet would still answer a Find for a moment: checking a right
	// after waiting for c alone failed about once in 30 runs).
	for name, n := range map[string]*Sessions{"a": a, "c": c} {
		await(t, n.m, name+" drops t1's sessions", func() bool {
			_, ok1 := n.v.get(digestOf("x1"))
			_, ok2 := n.v.get(digestOf("x2"))
			return !ok1 && !ok2
		})
	}
	mustNotFind(t, c, "x1", "t1's first session")
	mustNotFind(t, a, "x2", "t1's second session")
	mustFind(t, c, "y", "t2's session")
	mustFind(t, b, "anon", "a session signed in as nobody")
}

func TestSessionDeadlines(t *testing.T) {
	cfg := SessionConfig{IdleTimeout: 10 * time.Minute, CoalesceWindow: time.Minute}
	a, b, c, clk := threeStores(t, cfg)
	absolute := clk.Now().Add(30 * time.Minute)
	if err := a.Commit("tok", sessionData(t, "t1", absolute), absolute); err != nil {
		t.Fatal(err)
	}
	// Used every 6 minutes, the session outlives its first idle deadline;
	// each use near the stored deadline writes it, so another node agrees.
	for range 3 {
		clk.advance(6 * time.Minute)
		mustFind(t, a, "tok", "in use on a")
	}
	mustFind(t, b, "tok", "b, 18 minutes in, after a kept it in use")
	// The absolute deadline ends it whatever the use.
	clk.advance(13 * time.Minute)
	mustNotFind(t, a, "tok", "a, past the absolute deadline")
	mustNotFind(t, b, "tok", "b, past the absolute deadline")

	if err := a.Commit("idle", sessionData(t, "t1", clk.Now().Add(time.Hour)), clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustFind(t, c, "idle", "c, fresh")
	clk.advance(11 * time.Minute)
	mustNotFind(t, c, "idle", "c, idle past the timeout")
}

// TestRefreshNeverRevivesADeletedSession: an idle-deadline write races a
// logout elsewhere; the logout wins.
func TestRefreshNeverRevivesADeletedSession(t *testing.T) {
	cfg := SessionConfig{IdleTimeout: 10 * time.Minute, CoalesceWindow: time.Minute}
	a, b, _, clk := threeStores(t, cfg)
	exp := clk.Now().Add(time.Hour)
	if err := a.Commit("tok", sessionData(t, "t1", exp), exp); err != nil {
		t.Fatal(err)
	}
	e, ok := a.v.get(digestOf("tok"))
	if !ok {
		t.Fatal("a did not cache its own commit")
	}
	if err := b.Delete("tok"); err != nil {
		t.Fatal(err)
	}
	clk.advance(9*time.Minute + 30*time.Second) // the stored deadline is within a window: touch writes
	if err := a.touch(digestOf("tok"), e, clk.Now()); err != nil {
		t.Fatal(err)
	}
	mustNotFind(t, b, "tok", "b after a stale refresh on a")
	resp, err := b.cli.Get(testCtx(t), b.keys.session(digestOf("tok")))
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("the deleted session's key: %v, %v; want gone", resp, err)
	}
}

// TestSessionThatChangesTenantLeavesTheOldIndex: a token re-committed for
// another tenant is not ended by deleting the first tenant's sessions.
func TestSessionThatChangesTenantLeavesTheOldIndex(t *testing.T) {
	a, b, _, clk := threeStores(t, SessionConfig{})
	exp := clk.Now().Add(time.Hour)
	for _, tenant := range []string{"t1", "t2"} {
		if err := a.Commit("tok", sessionData(t, tenant, exp), exp); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.DeleteTenant(testCtx(t), "t1"); err != nil || n != 0 {
		t.Fatalf("delete t1's sessions: %d, %v; want none (the token is t2's now)", n, err)
	}
	mustFind(t, b, "tok", "t2's session after t1's were deleted")
	if n, err := b.DeleteTenant(testCtx(t), "t2"); err != nil || n != 1 {
		t.Fatalf("delete t2's sessions: %d, %v; want 1", n, err)
	}
}
