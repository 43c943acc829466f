package tenant

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// acquireWrite acquires tenant id and inserts one row through it.
func acquireWrite(p *Pool, id string) error {
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	_, err = s.ExecContext(ctx, "INSERT INTO items (v) VALUES ('x')")
	return err
}

// No idle closes or file checks within a test: it runs CheckFiles itself.
var manualChecks = Config{IdleTimeout: 1 << 40, FileCheckInterval: 1 << 40}

func TestRemovedFileUnderIdleHandleMakesTenantUnavailable(t *testing.T) {
	p := newTestPool(t, manualChecks)
	tn := mustProvision(t, p, "alice")
	other := mustProvision(t, p, "bob")
	for _, id := range []string{tn.ID, other.ID} {
		if err := acquireWrite(p, id); err != nil {
			t.Fatal(err)
		}
	}
	path := p.tenantPath(tn.ID)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if n := p.CheckFiles(); n != 1 {
		t.Fatalf("CheckFiles retired %d handles; want 1", n)
	}
	for range 2 {
		if err := acquireWrite(p, tn.ID); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("write after the file was removed: %v; want ErrUnavailable", err)
		}
	}
	p.drainClosing()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the removed file is back: %v", err)
	}
	if err := acquireWrite(p, other.ID); err != nil {
		t.Fatalf("another tenant suffered: %v", err)
	}
	if n := p.CheckFiles(); n != 0 {
		t.Fatalf("a second check retired %d more", n)
	}
}

func TestRemovedFileUnderHeldHandleFailsNewAcquiresAndSize(t *testing.T) {
	p := newTestPool(t, manualChecks)
	tn := mustProvision(t, p, "alice")
	ctx := context.Background()
	s, release, err := p.Acquire(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	path := p.tenantPath(tn.ID)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SizeBytes(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SizeBytes of a removed file: %v; want ErrUnavailable", err)
	}
	if n := p.CheckFiles(); n != 1 {
		t.Fatalf("CheckFiles retired %d handles; want 1", n)
	}
	if err := acquireWrite(p, tn.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write while the old handle is held: %v; want ErrUnavailable", err)
	}
	release()
	p.drainClosing()
	if err := acquireWrite(p, tn.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write after the old handle closed: %v; want ErrUnavailable", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the removed file is back: %v", err)
	}
}

// A file replaced under an open handle: the old handle, whose writes would
// land in a file no longer at the path, goes; the next open finds whatever
// is at the path now.
func TestReplacedFileRetiresOldHandle(t *testing.T) {
	p := newTestPool(t, manualChecks)
	tn := mustProvision(t, p, "alice")
	if err := acquireWrite(p, tn.ID); err != nil {
		t.Fatal(err)
	}
	path := p.tenantPath(tn.ID)
	if err := os.WriteFile(path+".new", []byte("not a database, just some bytes that are long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if n := p.CheckFiles(); n != 1 {
		t.Fatalf("CheckFiles retired %d handles; want 1", n)
	}
	p.drainClosing()
	if err := acquireWrite(p, tn.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write after the file was replaced by junk: %v; want ErrUnavailable", err)
	}
}

func TestFileCheckLeavesIntactFilesOpen(t *testing.T) {
	p := newTestPool(t, manualChecks)
	tn := mustProvision(t, p, "alice")
	if err := acquireWrite(p, tn.ID); err != nil {
		t.Fatal(err)
	}
	if n := p.CheckFiles(); n != 0 {
		t.Fatalf("CheckFiles retired %d intact handles", n)
	}
	if st := p.Stats(); st.Open != 1 {
		t.Fatalf("open handles = %d; want 1", st.Open)
	}
}

// The pool runs the check itself: with a short interval, a removed file's
// tenant turns unavailable without anyone calling CheckFiles.
func TestPoolChecksFilesInTheBackground(t *testing.T) {
	p := newTestPool(t, Config{FileCheckInterval: 5 * time.Millisecond})
	tn := mustProvision(t, p, "alice")
	if err := acquireWrite(p, tn.ID); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p.tenantPath(tn.ID)); err != nil {
		t.Fatal(err)
	}
	for give := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		err := acquireWrite(p, tn.ID)
		if errors.Is(err, ErrUnavailable) {
			return
		}
		if err != nil || time.Now().After(give) {
			t.Fatalf("write keeps going to the removed file (last: %v)", err)
		}
	}
}
