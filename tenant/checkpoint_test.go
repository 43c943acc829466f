package tenant

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// rowsInFileAlone is how many items rows tenant id's database file holds
// by itself, without its WAL: a copy of the file alone, opened immutable.
// Rows still only in the WAL are not counted.
func rowsInFileAlone(t testing.TB, p *Pool, id string) int {
	t.Helper()
	b, err := os.ReadFile(p.tenantPath(id))
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "alone.db")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlx.Open("sqlite", "file:"+cp+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.Get(&n, "SELECT count(*) FROM items"); err != nil {
		t.Fatal(err)
	}
	return n
}

// countItems is how many rows tenant id's items table holds.
func countItems(t testing.TB, p *Pool, id string) int {
	t.Helper()
	s, release, err := p.Acquire(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var n int
	if err := s.GetContext(context.Background(), &n, "SELECT count(*) FROM items"); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// TestIdleHandlesNextInLineHaveTheirWALCheckpointed: in a nearly full pool, a
// handle written and then left unused has its WAL checkpointed into the
// file and truncated in the background, and stays open with every row; a
// handle held by a request is left alone until it is released; a handle
// not used again is not checkpointed again.
func TestIdleHandlesNextInLineHaveTheirWALCheckpointed(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 2, IdleCheckpoint: 20 * time.Millisecond})
	alice, bob := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	sBob, releaseBob, err := p.Acquire(context.Background(), bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := sBob.ExecContext(context.Background(), "INSERT INTO items (v) VALUES (?)", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	addItems(t, p, alice.ID, 100)

	waitFor(t, "alice's WAL to be checkpointed", func() bool { return rowsInFileAlone(t, p, alice.ID) == 100 })
	// The rows reach the file a moment before the round counts them.
	waitFor(t, "the checkpoint to be counted", func() bool { return p.Stats().IdleCheckpoints == 1 })
	if st := p.Stats(); st.Open != 2 || st.Evictions != 0 {
		t.Errorf("after the checkpoint: %d open, %d evicted; want both still open", st.Open, st.Evictions)
	}
	done := p.Stats().IdleCheckpoints
	time.Sleep(200 * time.Millisecond) // ten rounds
	if got := p.Stats().IdleCheckpoints; got != done {
		t.Errorf("%d more checkpoints while nobody used a handle; want none", got-done)
	}
	if n := rowsInFileAlone(t, p, bob.ID); n != 0 {
		t.Errorf("bob's WAL was checkpointed (%d rows in the file) while a request held his handle", n)
	}
	releaseBob()
	waitFor(t, "bob's WAL to be checkpointed once released", func() bool { return rowsInFileAlone(t, p, bob.ID) == 100 })
	if a, b := countItems(t, p, alice.ID), countItems(t, p, bob.ID); a != 100 || b != 100 {
		t.Errorf("rows after the checkpoints: alice %d, bob %d; want 100 each", a, b)
	}
}

// TestIdleCheckpointsOnlyWhenEvictionsAreNear: a pool with room to spare,
// or with the checkpoints turned off, leaves an idle handle's WAL as it is.
func TestIdleCheckpointsOnlyWhenEvictionsAreNear(t *testing.T) {
	for _, cfg := range []Config{
		{MaxOpen: 8, IdleCheckpoint: 10 * time.Millisecond},
		{MaxOpen: 1, IdleCheckpoint: -1},
	} {
		p := newTestPool(t, cfg)
		alice := mustProvision(t, p, "alice")
		addItems(t, p, alice.ID, 20)
		time.Sleep(200 * time.Millisecond)
		if rowsInFileAlone(t, p, alice.ID) != 0 || p.Stats().IdleCheckpoints != 0 {
			t.Errorf("MaxOpen %d, IdleCheckpoint %v: the WAL was checkpointed (%d checkpoints)",
				cfg.MaxOpen, cfg.IdleCheckpoint, p.Stats().IdleCheckpoints)
		}
	}
}

// TestIdleCheckpointWaitsForNoOtherProcess: a reader outside the pool (a
// backup beside the server) keeps the frames it may still read from being
// checkpointed; the pool counts the round as failed without waiting, keeps
// serving the tenant, and checkpoints the rest once the reader is gone.
func TestIdleCheckpointWaitsForNoOtherProcess(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 1, IdleCheckpoint: 10 * time.Millisecond})
	alice := mustProvision(t, p, "alice")
	addItems(t, p, alice.ID, 50)
	reader, err := sqlx.Open("sqlite", "file:"+p.tenantPath(alice.ID)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	tx, err := reader.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.Get(&n, "SELECT count(*) FROM items"); err != nil || n != 50 {
		t.Fatalf("reader: %d, %v", n, err)
	}
	addItems(t, p, alice.ID, 10) // frames the reader's snapshot does not see
	waitFor(t, "a checkpoint to give up", func() bool { return p.Stats().IdleCheckpointsFailed > 0 })
	if got := countItems(t, p, alice.ID); got != 60 {
		t.Errorf("while the reader holds the WAL: %d rows, want 60", got)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the WAL to be checkpointed after the reader left", func() bool { return rowsInFileAlone(t, p, alice.ID) == 60 })
	if got := countItems(t, p, alice.ID); got != 60 {
		t.Errorf("after: %d rows, want 60", got)
	}
}

// TestIdleCheckpointsUnderLoad: requests writing to more tenants than the
// pool holds, while the pool checkpoints WALs every millisecond, lose nothing
// and fail nothing (run with -race).
func TestIdleCheckpointsUnderLoad(t *testing.T) {
	p := newTestPool(t, Config{MaxOpen: 3, IdleCheckpoint: time.Millisecond})
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = mustProvision(t, p, fmt.Sprintf("user%d", i)).ID
	}
	var mu sync.Mutex
	wrote := map[string]int{}
	var wg sync.WaitGroup
	stop := time.Now().Add(500 * time.Millisecond)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for time.Now().Before(stop) {
				id := ids[rng.IntN(len(ids))]
				s, release, err := p.Acquire(context.Background(), id)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = s.ExecContext(context.Background(), "INSERT INTO items (v) VALUES ('x')")
				release()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				wrote[id]++
				mu.Unlock()
				time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond) // let handles go idle
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if got := countItems(t, p, id); got != wrote[id] {
			t.Errorf("tenant %s: %d rows, %d written", id, got, wrote[id])
		}
	}
	if st := p.Stats(); st.IdleCheckpoints == 0 {
		t.Errorf("no checkpoint ran under load: %+v", st)
	}
}
