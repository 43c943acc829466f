package replica

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/replica/replicatest"
)

// A server cut off from S3 (a partition) past most of a TTL may have been
// taken over meanwhile: when S3 comes back, it must upload nothing before
// a refresh has found the lease still its own; once one has, it uploads
// again, and it never stops serving.
func TestALeaseNotRefreshedForMostOfATTLStopsUploadsUntilARefreshLands(t *testing.T) {
	s3 := replicatest.New(t)
	ttl := 600 * time.Millisecond
	r := mustOpenWriter(t, s3, "p", t.TempDir(), ttl)
	if r.stats.cut.Load() {
		t.Fatal("cut right after the lease was taken")
	}
	s3.Fail(true)
	waitBound(t, "uploads stopped while the lease could not be refreshed", 10*ttl, func() bool { return r.stats.cut.Load() })
	s3.Fail(false)
	waitBound(t, "uploads resumed once a refresh landed", 10*ttl, func() bool { return !r.stats.cut.Load() })
	select {
	case <-r.WriterLost():
		t.Fatalf("lease lost: %v", r.WriterErr())
	default:
	}
	if b := leaseIn(t, s3, "p"); !r.writer.thisRun(b) {
		t.Fatalf("lease %+v is not this server's", b)
	}
}

// waitBound polls cond until it holds; bound is a failure bound.
func waitBound(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The lease names the data directory's path, which may be long (and JSON
// escapes some characters six-fold): its own lease, read back, must still
// be its own, or the first refresh stops the server.
func TestADataDirectoryWithALongPathKeepsItsOwnLease(t *testing.T) {
	s3 := replicatest.New(t)
	dir := t.TempDir()
	for range 4 {
		dir = filepath.Join(dir, strings.Repeat("&", 200))
	}
	r := mustOpenWriter(t, s3, "p", dir, 300*time.Millisecond)
	first := leaseIn(t, s3, "p").Seq
	waitBound(t, "three refreshes", time.Minute, func() bool {
		return leaseIn(t, s3, "p").Seq >= first+3 || r.WriterErr() != nil
	})
	if err := r.WriterErr(); err != nil {
		t.Fatalf("lost its own lease: %v", err)
	}
}

// An operator who edits the lease object by hand (an empty file, a typo,
// anything that no server wrote: no server id in it) has not started a
// rival: the server makes the lease its own again and goes on, as when
// the lease is deleted by hand.
func TestALeaseRewrittenByHandWithoutAServerIDIsMadeOursAgain(t *testing.T) {
	for name, body := range map[string][]byte{
		"empty":     {},
		"garbage":   []byte("\x00\xff not json"),
		"truncated": []byte(`{"id":"`),
		"no id":     []byte(`{"host":"me","pid":1}`),
		"huge":      bytes.Repeat([]byte("x"), 1<<20),
	} {
		t.Run(name, func(t *testing.T) {
			s3 := replicatest.New(t)
			r := mustOpenWriter(t, s3, "p", t.TempDir(), 300*time.Millisecond)
			s3.Put(t, "p/writer", body)
			waitBound(t, "the lease ours again", time.Minute, func() bool {
				var b writerBody
				return r.WriterErr() != nil || json.Unmarshal(s3.Get(t, "p/writer"), &b) == nil && r.writer.thisRun(b)
			})
			if err := r.WriterErr(); err != nil {
				t.Fatalf("a lease edited by hand stopped the server: %v", err)
			}
		})
	}
}
