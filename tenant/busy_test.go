package tenant

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// childEnv marks a test binary run by runInChild.
const childEnv = "CUBBY_TENANT_TEST_CHILD"

// runInChild runs test name alone in a fresh copy of the test binary, for a
// test that must starve its process of file descriptors, which would break
// any test running beside it. It reports whether the caller is the child.
func runInChild(t *testing.T, name string) (child bool) {
	t.Helper()
	if os.Getenv(childEnv) == "1" {
		return true
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a child process: %v\n%s", name, err, out)
	}
	return false
}

// exhaustDescriptors lowers the soft descriptor limit to a little above
// what is open and fills the rest, so that the next open fails with EMFILE.
// The returned function frees them again.
func exhaustDescriptors(t *testing.T) (free func()) {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("needs /proc/self/fd")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(len(fds) + 32)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var held []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, f)
	}
	return func() {
		for _, f := range held {
			f.Close()
		}
	}
}

// Running out of file descriptors is ErrBusy wherever it strikes: opening
// a tenant's file, a routing.db lookup, provisioning, an export's temp
// file. Nothing is marked failed or removed for it, and everything works
// again once descriptors are free.
func TestOutOfDescriptorsIsBusy(t *testing.T) {
	if !runInChild(t, "TestOutOfDescriptorsIsBusy") {
		return
	}
	ctx := context.Background()
	p := newTestPool(t, Config{})
	alice, bob := mustProvision(t, p, "alice"), mustProvision(t, p, "bob")
	_, release, err := p.Acquire(ctx, alice.ID) // open, so its own use needs no new descriptor
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := p.Directory().Lookup(ctx, "bob"); err != nil { // leaves a routing connection idle
		t.Fatal(err)
	}

	free := exhaustDescriptors(t)
	_, _, err = p.Acquire(ctx, bob.ID)
	wantBusy(t, "open a tenant file", err)
	_, err = p.Export(ctx, alice.ID, nil)
	wantBusy(t, "export", err)
	_, err = p.Provision(ctx, "carol", writeAccount)
	wantBusy(t, "provision", err)
	free()

	p.sqlite.db.SetMaxIdleConns(0) // every lookup opens a connection
	free = exhaustDescriptors(t)
	_, err = p.Directory().Lookup(ctx, "bob")
	wantBusy(t, "routing.db lookup", err)
	free()

	s, releaseBob, err := p.Acquire(ctx, bob.ID)
	if err != nil {
		t.Fatalf("bob once descriptors are free: %v", err)
	}
	defer releaseBob()
	var name string
	if err := s.GetContext(ctx, &name, "SELECT username FROM account"); err != nil || name != "bob" {
		t.Fatalf("bob's account row: %q, %v", name, err)
	}
	if tn, err := p.Directory().Get(ctx, bob.ID); err != nil || tn.State != StateActive || tn.Error != "" {
		t.Fatalf("bob's routing row: %+v, %v", tn, err)
	}
	if _, err := p.Directory().Lookup(ctx, "carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused signup left a row: %v", err)
	}
	if files := filesUnder(t, p.dir, "tmp"); len(files) != 0 {
		t.Fatalf("left in tmp/: %v", files)
	}
	if n := len(filesUnder(t, p.dir, "tenants")); n > 2*len(fileSuffixes) {
		t.Fatalf("%d files under tenants/ for two tenants", n)
	}
}

func wantBusy(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrBusy) {
		t.Errorf("%s without descriptors: %v; want ErrBusy", what, err)
	}
}

// The client budget leaves room for the pool at capacity, the reserve, and
// for each client past the pool's capacity a connection and a handle.
func TestMaxClientsFitsTheDescriptorLimit(t *testing.T) {
	for _, c := range []struct{ limit, maxOpen, want int }{
		{420, 50, 75}, // 150 for the pool, 24 lent, 96 reserved: 50 clients, then 25 at four each
		{1 << 16, 512, 16296},
		{450, 100, 4}, // less than the pool's capacity is left: one each
		{300, 100, 1}, // nothing left: still one
	} {
		got := maxClients(c.limit, c.maxOpen)
		if got != c.want {
			t.Errorf("maxClients(%d, %d) = %d; want %d", c.limit, c.maxOpen, got, c.want)
		}
		if n := got + fdsPerHandle*max(c.maxOpen, got) + fdsPerReader*readerBudget(c.maxOpen) + reservedFDs; got > 1 && n > c.limit {
			t.Errorf("maxClients(%d, %d) = %d needs %d descriptors", c.limit, c.maxOpen, got, n)
		}
	}
}
