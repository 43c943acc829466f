package datadir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/replica/replicatest"
)

// dirNames lists dir and the replica folder in it, for "left as it was".
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	for _, d := range []string{dir, filepath.Join(dir, "replica")} {
		ents, err := os.ReadDir(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			names = append(names, filepath.Join(d, e.Name()))
		}
	}
	return names
}

// SIGTERM while a start watches another server's lease (for a TTL, 30 s
// by default) ends the start at once, takes nothing, and leaves the data
// directory, new or restarted, as it was.
func TestSignalDuringTheWatchOfALiveLeaseEndsTheStartAndLeavesTheDirectory(t *testing.T) {
	s3 := replicatest.New(t)
	restarted := filepath.Join(t.TempDir(), "restarted")
	d := mustOpenLeased(t, restarted, s3.URL("p"), time.Second)
	addNotes(t, d, "alice", 1)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	rival := []byte(`{"id":"another","host":"elsewhere","pid":7}`)
	s3.Put(t, "p/writer", rival)
	for name, dir := range map[string]string{"new": filepath.Join(t.TempDir(), "new"), "restarted": restarted} {
		t.Run(name, func(t *testing.T) {
			before := dirNames(t, dir)
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(200*time.Millisecond, cancel) // the signal, during a watch of an hour
			done := make(chan error, 1)
			go func() {
				d, err := Open(ctx, dir, leasedOptions(t, s3.URL("p"), time.Hour))
				if err == nil {
					d.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("open = %v, want context.Canceled", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("the start went on watching after the signal")
			}
			if after := dirNames(t, dir); !slices.Equal(after, before) {
				t.Fatalf("the directory changed:\n%v\nwas\n%v", after, before)
			}
			if got := s3.Get(t, "p/writer"); string(got) != string(rival) {
				t.Fatalf("the live server's lease became %q", got)
			}
		})
	}
}

// An S3 outage longer than the lease's TTL stops uploads (the lease may
// have been taken over meanwhile) but never the server; once S3 is back
// and the lease is still its own, what was written meanwhile ships.
func TestAnOutageLongerThanTheLeaseKeepsServingAndShipsOnceS3IsBack(t *testing.T) {
	s3 := replicatest.New(t)
	ttl := 600 * time.Millisecond
	d := mustOpenLeased(t, filepath.Join(t.TempDir(), "data"), s3.URL("p"), ttl)
	id := addNotes(t, d, "alice", 1)
	s3.Fail(true)
	for n, down := 1, time.Now(); time.Since(down) < 2*ttl; n++ { // the lease lapses meanwhile
		writeNotes(t, d, id, n, n+1)
		time.Sleep(20 * time.Millisecond)
	}
	wantServing(t, d)
	writeNotes(t, d, id, 100, 103)
	s3.Fail(false)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		if _, err := d.Replicator().Sync(ctx, id); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("alice's writes never shipped once S3 was back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantServing(t, d)
}
