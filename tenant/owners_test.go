package tenant

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// fakeOwners grants tenants as a test says and logs the pool's calls into
// the fake replicator's log, so that their order with attach and detach
// shows.
type fakeOwners struct {
	f         *fakeReplicator
	mu        sync.Mutex
	elsewhere map[string]bool
	stale     bool
}

func (o *fakeOwners) Claim(ctx context.Context, id string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.elsewhere[id] {
		return false, &ElsewhereError{Tenant: id, Node: "other", Address: "http://other"}
	}
	o.f.log("claim " + id)
	return o.stale, nil
}

func (o *fakeOwners) Release(id string) { o.f.log("release " + id) }

func newOwnedPool(t *testing.T) (*Pool, *fakeReplicator, *fakeOwners) {
	f := &fakeReplicator{t: t, store: t.TempDir()}
	o := &fakeOwners{f: f, elsewhere: map[string]bool{}}
	p := newTestPool(t, Config{MaxOpen: 4, Replicator: f, Owners: o})
	f.pool = func() *Pool { return p }
	return p, f, o
}

func TestOwnedPoolClaimsBeforeOpeningAndReleasesAfterTheFinalSync(t *testing.T) {
	p, f, _ := newOwnedPool(t)
	tn := mustProvision(t, p, "alice")
	_, release, err := p.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	id := tn.ID
	want := []string{
		"claim " + id, "attach " + id, "detach " + id, "release " + id, // provision
		"claim " + id, "attach " + id, "detach " + id, "release " + id, // acquire, close
	}
	if got := f.got(); !slices.Equal(got, want) {
		t.Fatalf("calls %v\nwant %v", got, want)
	}
}

func TestAcquireOfATenantOwnedElsewhereNamesTheOwnerAndOpensNothing(t *testing.T) {
	p, f, o := newOwnedPool(t)
	tn := mustProvision(t, p, "alice")
	o.elsewhere[tn.ID] = true
	before := len(f.got())
	_, _, err := p.Acquire(context.Background(), tn.ID)
	var ee *ElsewhereError
	if !errors.As(err, &ee) || !errors.Is(err, ErrElsewhere) || ee.Node != "other" || ee.Address != "http://other" {
		t.Fatalf("acquire of a tenant owned elsewhere: %v", err)
	}
	if got := f.got()[before:]; len(got) != 0 {
		t.Fatalf("the pool touched a tenant another node owns: %v", got)
	}
	if s := p.Stats(); s.Open != 0 {
		t.Fatalf("%d handles open", s.Open)
	}
}

func TestAStaleClaimReplacesTheLocalCopyWithTheReplica(t *testing.T) {
	for _, stale := range []bool{false, true} {
		p, f, o := newOwnedPool(t)
		tn := mustProvision(t, p, "alice") // its detach copied it to the store
		// Another node wrote the tenant since: the replica is newer.
		db, err := sql.Open("sqlite", filepath.Join(f.store, tn.ID))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("CREATE TABLE written_elsewhere (x)"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		o.stale = stale
		s, release, err := p.Acquire(context.Background(), tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = s.GetContext(context.Background(), &n, "SELECT count(*) FROM sqlite_schema WHERE name = 'written_elsewhere'")
		release()
		if err != nil {
			t.Fatal(err)
		}
		if got := n == 1; got != stale {
			t.Errorf("stale=%v: the open served the replica's newer copy: %v", stale, got)
		}
	}
}

func TestAFencedPoolServesNothingAndClosesItsHandles(t *testing.T) {
	p, f, _ := newOwnedPool(t)
	ctx := context.Background()
	idle, held := mustProvision(t, p, "idle"), mustProvision(t, p, "held")
	_, release, err := p.Acquire(ctx, idle.ID)
	if err != nil {
		t.Fatal(err)
	}
	release()
	_, releaseHeld, err := p.Acquire(ctx, held.ID)
	if err != nil {
		t.Fatal(err)
	}
	before := len(f.got())
	p.Fence(errors.New("lease lost"))
	if got := f.got()[before:]; !slices.Equal(got, []string{"detach " + idle.ID}) {
		t.Fatalf("fence closed %v, want the idle handle at once (and no release)", got)
	}
	releaseHeld()
	p.drainClosing()
	if got := f.got()[before:]; !slices.Contains(got, "detach "+held.ID) || slices.ContainsFunc(got, func(s string) bool { return s[:7] == "release" }) {
		t.Fatalf("after the last release: %v, want the held handle closed and nothing released", got)
	}
	for _, id := range []string{idle.ID, held.ID} {
		if _, _, err := p.Acquire(ctx, id); !errors.Is(err, ErrUnavailable) {
			t.Errorf("acquire on a fenced pool: %v, want ErrUnavailable", err)
		}
	}
	if _, err := p.Provision(ctx, "late", writeAccount); !errors.Is(err, ErrUnavailable) {
		t.Errorf("provision on a fenced pool: %v, want ErrUnavailable", err)
	}
	if s := p.Stats(); s.Open != 0 {
		t.Errorf("%d handles open after the fence", s.Open)
	}
	if p.Fenced() == nil {
		t.Error("Fenced says the pool is not fenced")
	}
}
