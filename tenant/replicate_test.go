package tenant

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeReplicator records the pool's calls and "replicates" by copying the
// file at each detach, under its own folder.
type fakeReplicator struct {
	t     *testing.T
	pool  func() *Pool
	store string

	mu    sync.Mutex
	calls []string
}

func (f *fakeReplicator) log(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeReplicator) Attach(ctx context.Context, id, path string) error {
	if path != f.pool().tenantPath(id) {
		f.t.Errorf("attach %s with path %s", id, path)
	}
	f.log("attach " + id)
	return nil
}

func (f *fakeReplicator) Detach(id, path string) {
	// The pool's handle is closed: the file can be copied whole (no WAL
	// left beside it is needed, since closing checkpointed it).
	b, err := os.ReadFile(path)
	if err != nil {
		f.t.Errorf("detach %s: %v", id, err)
	}
	if err := os.WriteFile(filepath.Join(f.store, id), b, 0o644); err != nil {
		f.t.Error(err)
	}
	f.log("detach " + id)
}

func (f *fakeReplicator) Restore(ctx context.Context, id, dst string) error {
	f.log("restore " + id)
	b, err := os.ReadFile(filepath.Join(f.store, id))
	if errors.Is(err, os.ErrNotExist) {
		return ErrNoReplica
	}
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644) // as Litestream does: the pool makes it 0600
}

func (f *fakeReplicator) Remove(ctx context.Context, id string) error {
	f.log("remove " + id)
	return os.Remove(filepath.Join(f.store, id))
}

func (f *fakeReplicator) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func newReplicatedPool(t *testing.T, maxOpen int) (*Pool, *fakeReplicator) {
	f := &fakeReplicator{t: t, store: t.TempDir()}
	p := newTestPool(t, Config{MaxOpen: maxOpen, Replicator: f})
	f.pool = func() *Pool { return p }
	return p, f
}

func TestPoolAttachesOnOpenAndDetachesAfterClose(t *testing.T) {
	p, f := newReplicatedPool(t, 1)
	a := mustProvision(t, p, "alice") // replicated at signup: attach, detach
	b := mustProvision(t, p, "bob")
	for _, id := range []string{a.ID, b.ID, a.ID} { // each open evicts the other
		_, release, err := p.Acquire(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	p.drainClosing()
	// Per tenant the calls alternate (the order between two tenants is the
	// closer goroutine's): signup, then each open and each eviction.
	for id, want := range map[string][]string{
		a.ID: {"attach", "detach", "attach", "detach", "attach"},
		b.ID: {"attach", "detach", "attach", "detach"},
	} {
		var got []string
		for _, c := range f.got() {
			if verb, cid, _ := strings.Cut(c, " "); cid == id {
				got = append(got, verb)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("tenant %s: calls %v, want %v", id, got, want)
		}
	}
}

func TestPoolRestoresAMissingFileFromItsReplica(t *testing.T) {
	p, f := newReplicatedPool(t, 4)
	a := mustProvision(t, p, "alice")
	b := mustProvision(t, p, "bob")
	os.Remove(filepath.Join(f.store, b.ID)) // bob has no replica
	for _, id := range []string{a.ID, b.ID} {
		if err := removeFiles(p.tenantPath(id)); err != nil {
			t.Fatal(err)
		}
	}
	s, release, err := p.Acquire(t.Context(), a.ID)
	if err != nil {
		t.Fatalf("acquire restored tenant: %v", err)
	}
	var name string
	err = s.GetContext(t.Context(), &name, "SELECT username FROM account")
	release()
	if err != nil || name != "alice" {
		t.Fatalf("restored account = %q, %v", name, err)
	}
	fi, err := os.Stat(p.tenantPath(a.ID))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored file: %v %v", fi, err)
	}
	if _, _, err := p.Acquire(t.Context(), b.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("tenant without replica: %v, want ErrUnavailable", err)
	}
	if left := filesUnder(t, p.dir, "tmp"); len(left) != 0 {
		t.Fatalf("restores left %v in tmp/", left)
	}
}

func TestPoolDeleteRemovesTheReplica(t *testing.T) {
	p, f := newReplicatedPool(t, 4)
	a := mustProvision(t, p, "alice")
	if err := p.Delete(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	got := f.got()
	if got[len(got)-1] != "remove "+a.ID {
		t.Fatalf("calls %v end without removing the replica", got)
	}
	if _, err := os.Stat(filepath.Join(f.store, a.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("replica still there: %v", err)
	}
}
