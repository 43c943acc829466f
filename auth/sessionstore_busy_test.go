package auth

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/tenant"
)

// A session store that cannot open routing.db for want of file descriptors
// answers ErrBusy (503 busy, try again), not an error that reads as a bug.
// The test starves its own process of descriptors, so it runs alone in a
// child copy of the test binary.
func TestSessionStoreOutOfDescriptorsIsBusy(t *testing.T) {
	const childEnv = "CUBBY_AUTH_TEST_CHILD"
	if os.Getenv(childEnv) != "1" {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSessionStoreOutOfDescriptorsIsBusy$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("in a child process: %v\n%s", err, out)
		}
		return
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("needs /proc/self/fd")
	}
	db := openRoutingDB(t)
	db.SetMaxIdleConns(0) // every query opens a connection
	s := newTestStore(t, db, SessionStoreConfig{})
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
	_, _, findErr := s.Find("some-token")
	commitErr := s.Commit("some-token", []byte("x"), time.Now().Add(time.Hour))
	for _, f := range held {
		f.Close()
	}
	if !errors.Is(findErr, tenant.ErrBusy) || !errors.Is(commitErr, tenant.ErrBusy) {
		t.Fatalf("find: %v; commit: %v; want ErrBusy from both", findErr, commitErr)
	}
	if _, _, err := s.Find("some-token"); err != nil {
		t.Fatalf("find once descriptors are free: %v", err)
	}
}
