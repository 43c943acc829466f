package datadir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/replica/replicatest"
	"github.com/cubbyhq/cubby/tenant"
)

// openReplicated opens dir replicated to prefix on s3. The caller closes it.
func openReplicated(t *testing.T, dir, url string, maxOpen int) (*DataDir, error) {
	t.Helper()
	o := testOptions(t)
	o.Create = true
	o.Pool.MaxOpen = maxOpen
	o.Replicate = replica.Config{URL: url, SyncInterval: 10 * time.Millisecond, CompactInterval: time.Hour}
	return Open(t.Context(), dir, o)
}

// mustOpenReplicated is openReplicated that fails the test on error and
// closes d when the test ends.
func mustOpenReplicated(t *testing.T, dir, url string, maxOpen int) *DataDir {
	t.Helper()
	d, err := openReplicated(t, dir, url, maxOpen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// addNotes provisions username and writes n notes into its file.
func addNotes(t *testing.T, d *DataDir, username string, n int) string {
	t.Helper()
	ctx := t.Context()
	tn, err := d.Pool().Provision(ctx, username, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeNotes(t, d, tn.ID, 0, n)
	return tn.ID
}

// writeNotes adds notes from..to-1 to tenant id.
func writeNotes(t *testing.T, d *DataDir, id string, from, to int) {
	t.Helper()
	s, release, err := d.Pool().Acquire(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for i := from; i < to; i++ {
		if _, err := s.ExecContext(t.Context(), "INSERT INTO notes (title, body, created_at, updated_at) VALUES (?, ?, ?, ?)",
			fmt.Sprintf("n%d", i), strings.Repeat("x", i%50), "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"); err != nil {
			t.Fatal(err)
		}
	}
}

// titles reads tenant id's note titles in order.
func titles(t *testing.T, d *DataDir, id string) ([]string, error) {
	t.Helper()
	s, release, err := d.Pool().Acquire(t.Context(), id)
	if err != nil {
		return nil, err
	}
	defer release()
	var out []string
	err = s.SelectContext(t.Context(), &out, "SELECT title FROM notes ORDER BY id")
	return out, err
}

func TestMissingTenantFileIsRestoredOnOpenPrivateWithTheSameRows(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	d := mustOpenReplicated(t, dir, s3.URL("p"), 8)
	id := addNotes(t, d, "alice", 40)
	want, err := titles(t, d, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil { // final syncs
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tenants", id[:2], id+".db")
	for _, s := range []string{"", "-wal", "-shm"} {
		os.Remove(path + s)
	}
	d = mustOpenReplicated(t, dir, s3.URL("p"), 8)
	got, err := titles(t, d, id)
	if err != nil {
		t.Fatalf("read restored tenant: %v", err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("restored %d notes, want %d", len(got), len(want))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestNewTenantIsReplicatedAndWithoutReplicaAMissingFileStaysUnavailable(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	d := mustOpenReplicated(t, dir, s3.URL("p"), 8)
	tn, err := d.Pool().Provision(t.Context(), "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Replicator().Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	prefix := "p/tenants/" + tn.ID[:2] + "/" + tn.ID + "/"
	if len(s3.Keys(t, prefix)) == 0 {
		t.Fatal("a new tenant was not replicated at signup")
	}
	s3.DeletePrefix(t, prefix) // now it has no replica
	path := filepath.Join(dir, "tenants", tn.ID[:2], tn.ID+".db")
	for _, s := range []string{"", "-wal", "-shm"} {
		os.Remove(path + s)
	}
	if _, err := titles(t, d, tn.ID); !errors.Is(err, tenant.ErrUnavailable) {
		t.Fatalf("acquire = %v, want ErrUnavailable", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a file was made for a tenant without replica")
	}
}

func TestEvictedTenantRestoresWithItsLastWrite(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	d := mustOpenReplicated(t, dir, s3.URL("p"), 1)
	a := addNotes(t, d, "alice", 5)
	b := addNotes(t, d, "bob", 5)
	writeNotes(t, d, a, 5, 6) // the last write, then a is evicted by b
	if _, err := titles(t, d, b); err != nil {
		t.Fatal(err)
	}
	// Pool.Close → replication Close waits for the evicted tenant's detach.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	d = mustOpenReplicated(t, dir, s3.URL("p"), 1)
	got, err := titles(t, d, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 || got[5] != "n5" {
		t.Fatalf("restored %v, want n0..n5", got)
	}
}

func TestFreshRoutingOverUsedPrefixIsRefused(t *testing.T) {
	s3 := replicatest.New(t)
	d := mustOpenReplicated(t, filepath.Join(t.TempDir(), "one"), s3.URL("p"), 8)
	addNotes(t, d, "alice", 1)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "two")
	plain := openTest(t, other) // a data directory never replicated
	if err := plain.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := openReplicated(t, other, s3.URL("p"), 8)
	if !errors.Is(err, replica.ErrPrefixInUse) {
		t.Fatalf("open = %v, want ErrPrefixInUse", err)
	}
	if !strings.Contains(err.Error(), "another prefix") {
		t.Fatalf("message %q does not say what to do", err)
	}
}

func TestAccountDeletionEmptiesTheTenantsPrefix(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	d := mustOpenReplicated(t, dir, s3.URL("p"), 8)
	id := addNotes(t, d, "alice", 3)
	keep := addNotes(t, d, "bob", 3)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Wait until alice's writes are uploaded, so there is something to remove.
	for len(s3.Keys(t, "p/tenants/"+id[:2]+"/"+id+"/")) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("alice was never uploaded")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := d.Pool().Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if keys := s3.Keys(t, "p/tenants/"+id[:2]+"/"+id+"/"); len(keys) != 0 {
		t.Fatalf("deleted tenant's prefix still holds %v", keys)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if keys := s3.Keys(t, "p/tenants/"+keep[:2]+"/"+keep+"/"); len(keys) == 0 {
		t.Fatal("the other tenant's replica went too")
	}
}

func TestMissingRoutingDBIsRestoredBeforeServing(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	d := mustOpenReplicated(t, dir, s3.URL("r"), 8)
	id := addNotes(t, d, "alice", 3)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil { // a new machine, an empty disk
		t.Fatal(err)
	}
	d = mustOpenReplicated(t, dir, s3.URL("r"), 8)
	tn, err := d.Routing().Lookup(t.Context(), "alice")
	if err != nil || tn.ID != id {
		t.Fatalf("alice after the routing restore: %+v, %v", tn, err)
	}
	if got, err := titles(t, d, id); err != nil || len(got) != 3 {
		t.Fatalf("alice's notes: %v, %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(dir, tenant.RoutingFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored routing.db: %v, %v", fi, err)
	}
}
