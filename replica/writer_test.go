package replica

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/replica/replicatest"
)

// openWriter opens a Replicator for dir replicating to prefix with the
// writer lease's TTL ttl, and takes the lease. The caller closes it (a
// cleanup does too).
func openWriter(t *testing.T, s3 *replicatest.S3, prefix, dir string, ttl time.Duration) (*Replicator, error) {
	t.Helper()
	r, err := Open(t.Context(), Config{URL: s3.URL(prefix), Dir: dir, WriterTTL: ttl,
		SyncInterval: 10 * time.Millisecond, CompactInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a failure bound
	defer cancel()
	return r, r.TakeWriter(ctx)
}

func mustOpenWriter(t *testing.T, s3 *replicatest.S3, prefix, dir string, ttl time.Duration) *Replicator {
	t.Helper()
	r, err := openWriter(t, s3, prefix, dir, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// abandon leaves r as kill -9 would: the lease stays in the bucket,
// never refreshed again.
func abandon(r *Replicator) {
	r.mu.Lock()
	l := r.writer
	r.writer = nil
	r.mu.Unlock()
	l.cancel()
	<-l.done
	r.Close()
}

// leaseIn reads the lease object under prefix; the zero body when none.
func leaseIn(t *testing.T, s3 *replicatest.S3, prefix string) writerBody {
	t.Helper()
	var b writerBody
	if raw := s3.Get(t, prefix+"/writer"); raw != nil {
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatalf("lease body %q: %v", raw, err)
		}
	}
	return b
}

func dirID(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(WriterIDFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestWriterLeaseNamesItsHolderAndGoesAtClose(t *testing.T) {
	s3 := replicatest.New(t)
	dir := t.TempDir()
	r := mustOpenWriter(t, s3, "p", dir, time.Second)
	fi, err := os.Stat(WriterIDFile(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("writer id file: %v, %v", fi, err)
	}
	host, _ := os.Hostname()
	b := leaseIn(t, s3, "p")
	if id := dirID(t, dir); b.ID != id || len(id) != 32 || b.Host != host || b.PID != os.Getpid() {
		t.Fatalf("lease %+v, want id %s, host %s, pid %d", b, id, host, os.Getpid())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if keys := s3.Keys(t, "p/writer"); len(keys) != 0 {
		t.Fatalf("lease still there after Close: %v", keys)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "(*lease).keep") {
		t.Fatal("the lease's refresher outlived Close")
	}
}

func TestWriterLeaseIsRefreshedWithANewETagEachTime(t *testing.T) {
	s3 := replicatest.New(t)
	mustOpenWriter(t, s3, "p", t.TempDir(), 300*time.Millisecond)
	first := leaseIn(t, s3, "p").Seq
	waitFor(t, "two refreshes", func() bool { return leaseIn(t, s3, "p").Seq >= first+2 })
}

func TestLiveWritersLeaseRefusesAnotherDataDirectoryNamingIt(t *testing.T) {
	s3 := replicatest.New(t)
	first := mustOpenWriter(t, s3, "p", t.TempDir(), time.Second)
	holder := leaseIn(t, s3, "p")
	second, err := openWriter(t, s3, "p", t.TempDir(), time.Second)
	if !errors.Is(err, ErrWriterLive) {
		t.Fatalf("second writer: %v, want ErrWriterLive", err)
	}
	host, _ := os.Hostname()
	for _, want := range []string{"host " + host, "pid " + strconv.Itoa(os.Getpid()), "stop that server, or use another prefix"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if got := second.Stats().Requests; got != 2 { // read, and read again a TTL later
		t.Errorf("the refused writer made %d requests, want 2", got)
	}
	if b := leaseIn(t, s3, "p"); b.ID != holder.ID {
		t.Fatalf("the lease changed hands: %+v", b)
	}
	if first.WriterErr() != nil {
		t.Fatalf("the holder lost its lease: %v", first.WriterErr())
	}
}

func TestAbandonedLeaseIsTakenOverAfterOneTTL(t *testing.T) {
	s3 := replicatest.New(t)
	const ttl = time.Second
	abandon(mustOpenWriter(t, s3, "p", t.TempDir(), ttl))
	dir := t.TempDir()
	start := time.Now()
	r := mustOpenWriter(t, s3, "p", dir, ttl)
	if waited := time.Since(start); waited < ttl {
		t.Fatalf("took a live-looking lease over after %v, before one TTL", waited)
	}
	if got := r.Stats().Requests; got != 3 { // read, read a TTL later, take
		t.Errorf("%d requests to take an abandoned lease, want 3", got)
	}
	if b := leaseIn(t, s3, "p"); b.ID != dirID(t, dir) {
		t.Fatalf("lease %+v is not the new writer's", b)
	}
}

func TestSameDataDirectoryTakesItsAbandonedLeaseBackAtOnce(t *testing.T) {
	s3 := replicatest.New(t)
	dir := t.TempDir()
	abandon(mustOpenWriter(t, s3, "p", dir, time.Second))
	// A watch would last an hour: the test's bound fails it.
	r := mustOpenWriter(t, s3, "p", dir, time.Hour)
	if got := r.Stats().Requests; got != 2 { // read, take
		t.Errorf("%d requests to take our own lease back, want 2", got)
	}
	if b := leaseIn(t, s3, "p"); b.PID != os.Getpid() || b.ID != dirID(t, dir) {
		t.Fatalf("lease %+v", b)
	}
}

func TestLeaseUnchangedForTwoTTLsByS3sClockIsTakenOverWithoutWatching(t *testing.T) {
	s3 := replicatest.New(t)
	const ttl = time.Second
	abandon(mustOpenWriter(t, s3, "p", t.TempDir(), ttl))
	time.Sleep(2*ttl + 1500*time.Millisecond) // S3's clock counts whole seconds
	r := mustOpenWriter(t, s3, "p", t.TempDir(), ttl)
	if got := r.Stats().Requests; got != 2 { // read, take: no second read
		t.Errorf("%d requests to take a stale lease over, want 2", got)
	}
}

func TestRefreshAdoptsItsLostWriteRecreatesADeletedLeaseAndLosesToAnother(t *testing.T) {
	s3 := replicatest.New(t)
	r, err := Open(t.Context(), Config{URL: s3.URL("p"), Dir: t.TempDir(), WriterTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, err := r.newLease(t.Context()) // no refresher: the test refreshes
	if err != nil {
		t.Fatal(err)
	}
	if err := l.take(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A refresh that landed but whose answer was lost leaves a stale ETag.
	l.etag = `"00000000000000000000000000000000"`
	if err := l.refresh(t.Context()); err != nil {
		t.Fatalf("refresh after a lost answer: %v", err)
	}
	if err := l.refresh(t.Context()); err != nil {
		t.Fatalf("refresh with the adopted ETag: %v", err)
	}
	s3.DeletePrefix(t, "p/writer") // an operator's doing
	if err := l.refresh(t.Context()); err != nil {
		t.Fatalf("refresh of a deleted lease: %v", err)
	}
	if b := leaseIn(t, s3, "p"); !l.thisRun(b) {
		t.Fatalf("deleted lease not made again: %+v", b)
	}
	s3.Put(t, "p/writer", []byte(`{"id":"other","host":"elsewhere","pid":7}`))
	err = l.refresh(t.Context())
	if !errors.Is(err, ErrWriterLost) || !strings.Contains(err.Error(), "host elsewhere, pid 7") {
		t.Fatalf("refresh over another's lease: %v, want ErrWriterLost naming it", err)
	}
	if b := leaseIn(t, s3, "p"); b.ID != "other" {
		t.Fatalf("another's lease was overwritten: %+v", b)
	}
}

func TestCloseNeverDeletesAnothersLease(t *testing.T) {
	s3 := replicatest.New(t)
	r, err := Open(t.Context(), Config{URL: s3.URL("p"), Dir: t.TempDir(), WriterTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, err := r.newLease(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.take(t.Context()); err != nil {
		t.Fatal(err)
	}
	s3.Put(t, "p/writer", []byte(`{"id":"other"}`)) // taken over before the refresher noticed
	if err := l.release(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b := leaseIn(t, s3, "p"); b.ID != "other" {
		t.Fatalf("release deleted another's lease: %+v", b)
	}
}

// waitFor polls cond until it holds; a minute is a failure bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling the fake S3: nothing to wait on
	}
}

// A store that answers conditional writes with 501 (some S3-compatible
// ones do) still gets a lease: written plainly, kept, refused to a second
// server while it is refreshed, and let go at Close.
func TestAStoreThatRefusesConditionalWritesStillHoldsALease(t *testing.T) {
	s3 := replicatest.New(t)
	s3.RefuseConditions()
	const ttl = 600 * time.Millisecond
	first := mustOpenWriter(t, s3, "p", t.TempDir(), ttl)
	if b := leaseIn(t, s3, "p"); b.ID == "" {
		t.Fatal("no lease in the bucket")
	}
	if _, err := openWriter(t, s3, "p", t.TempDir(), ttl); !errors.Is(err, ErrWriterLive) {
		t.Fatalf("second writer beside a live one: %v, want ErrWriterLive", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if b := leaseIn(t, s3, "p"); b.ID != "" {
		t.Fatalf("the lease outlived a graceful Close: %+v", b)
	}
	mustOpenWriter(t, s3, "p", t.TempDir(), ttl)
}

// On a store that ignores conditional writes, If-Match passes whoever
// wrote last: a refresh must still find that another server wrote the
// lease, and leave it alone.
func TestAStoreThatIgnoresConditionsStillLosesTheLeaseToAnother(t *testing.T) {
	s3 := replicatest.New(t)
	s3.IgnoreConditions()
	r, err := Open(t.Context(), Config{URL: s3.URL("p"), Dir: t.TempDir(), WriterTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, err := r.newLease(t.Context()) // no refresher: the test refreshes
	if err != nil {
		t.Fatal(err)
	}
	if err := l.take(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := l.refresh(t.Context()); err != nil {
		t.Fatalf("refresh of its own lease: %v", err)
	}
	s3.Put(t, "p/writer", []byte(`{"id":"other","host":"elsewhere","pid":7}`)) // started at the same moment
	if err := l.refresh(t.Context()); !errors.Is(err, ErrWriterLost) {
		t.Fatalf("refresh over another's lease on a store that ignores If-Match: %v, want ErrWriterLost", err)
	}
	if b := leaseIn(t, s3, "p"); b.ID != "other" {
		t.Fatalf("another's lease was overwritten: %+v", b)
	}
}

// A copy of a live server's data directory (cp -a data data2 on the same
// host, started with the same --replicate-to) shares its writer id. It
// must not take the live original's lease at once as a crashed run of
// the same directory may: it watches, and is refused.
func TestACopyOfALiveDataDirectoryIsRefused(t *testing.T) {
	s3 := replicatest.New(t)
	const ttl = time.Second
	dir := t.TempDir()
	first := mustOpenWriter(t, s3, "p", dir, ttl)
	copied := t.TempDir()
	raw, err := os.ReadFile(WriterIDFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(WriterIDFile(copied)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(WriterIDFile(copied), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openWriter(t, s3, "p", copied, ttl); !errors.Is(err, ErrWriterLive) {
		t.Fatalf("a copy of a live data directory: %v, want ErrWriterLive", err)
	}
	if err := first.WriterErr(); err != nil {
		t.Fatalf("the original lost its lease to its copy: %v", err)
	}
}
