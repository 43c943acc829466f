package datadir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/replica/replicatest"
	"github.com/cubbyhq/cubby/tenant"
)

// leasedOptions are a single server's options replicating to url with the
// writer lease's TTL ttl.
func leasedOptions(t *testing.T, url string, ttl time.Duration) Options {
	t.Helper()
	o := testOptions(t)
	o.Create = true
	o.Pool.MaxOpen = 8
	o.Replicate = replica.Config{URL: url, SyncInterval: 10 * time.Millisecond, CompactInterval: time.Hour, WriterTTL: ttl}
	return o
}

// openLeased opens dir with o; a minute bounds a watch that never ends.
// A cleanup closes it.
func openLeased(t *testing.T, dir string, o Options) (*DataDir, error) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d, err := Open(ctx, dir, o)
	if err == nil {
		t.Cleanup(func() { d.Close() })
	}
	return d, err
}

func mustOpenLeased(t *testing.T, dir, url string, ttl time.Duration) *DataDir {
	t.Helper()
	d, err := openLeased(t, dir, leasedOptions(t, url, ttl))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// wantServing fails the test if d has given up.
func wantServing(t *testing.T, d *DataDir) {
	t.Helper()
	select {
	case <-d.Gone():
		t.Fatalf("the server stopped: %v", d.GoneErr())
	default:
	}
}

// wantRefused wants err to be the writer lease's refusal, saying what to do.
func wantRefused(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, replica.ErrWriterLive) {
		t.Fatalf("open = %v, want ErrWriterLive", err)
	}
	for _, want := range []string{"another server replicates to this prefix", "stop that server, or use another prefix"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("refusal %q does not say %q", err, want)
		}
	}
}

func TestSecondServerOnALivePrefixIsRefusedAndRestoresNothing(t *testing.T) {
	s3 := replicatest.New(t)
	url := s3.URL("p")
	first := mustOpenLeased(t, filepath.Join(t.TempDir(), "one"), url, time.Second)
	id := addNotes(t, first, "alice", 3)
	for _, dir := range []string{filepath.Join(t.TempDir(), "new"), t.TempDir()} {
		before := names(t, dir)
		_, err := openLeased(t, dir, leasedOptions(t, url, time.Second))
		wantRefused(t, err)
		if after := names(t, dir); !slices.Equal(before, after) {
			t.Fatalf("the refused server left %v in %s, which held %v", after, dir, before)
		}
	}
	writeNotes(t, first, id, 3, 5)
	wantServing(t, first)
}

func TestWriterCommandBesideALiveServerIsRefused(t *testing.T) {
	s3 := replicatest.New(t)
	url := s3.URL("p")
	stale := filepath.Join(t.TempDir(), "stale") // replicated there once: its routing.db belongs in p
	d := mustOpenLeased(t, stale, url, time.Second)
	addNotes(t, d, "alice", 1)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	live := mustOpenLeased(t, filepath.Join(t.TempDir(), "live"), url, time.Second) // restores alice
	if _, err := live.Routing().Lookup(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	before := names(t, stale)
	o := leasedOptions(t, url, time.Second)
	o.Create = false // as delete-user --replicate-to opens it
	_, err := openLeased(t, stale, o)
	wantRefused(t, err)
	if after := names(t, stale); !slices.Equal(before, after) {
		t.Fatalf("the refused command changed %s: %v, was %v", stale, after, before)
	}
	wantServing(t, live)
}

func TestNextServerStartsAtOnceAfterAGracefulCloseAndServesTheSameUsers(t *testing.T) {
	s3 := replicatest.New(t)
	url := s3.URL("p")
	first := mustOpenLeased(t, filepath.Join(t.TempDir(), "old"), url, time.Second)
	id := addNotes(t, first, "alice", 3)
	if len(s3.Keys(t, "p/writer")) != 1 {
		t.Fatal("the serving server holds no writer lease")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if keys := s3.Keys(t, "p/writer"); len(keys) != 0 {
		t.Fatalf("the lease outlived a graceful close: %v", keys)
	}
	// The replacement machine: a watch would last an hour, past the bound.
	second := mustOpenLeased(t, filepath.Join(t.TempDir(), "new"), url, time.Hour)
	if tn, err := second.Routing().Lookup(t.Context(), "alice"); err != nil || tn.ID != id {
		t.Fatalf("alice on the next server: %+v, %v", tn, err)
	}
	if got, err := titles(t, second, id); err != nil || len(got) != 3 {
		t.Fatalf("alice's notes on the next server: %v, %v", got, err)
	}
}

func TestServerWhoseLeaseAnotherTookStopsAndUploadsNothingMore(t *testing.T) {
	s3 := replicatest.New(t)
	d := mustOpenLeased(t, filepath.Join(t.TempDir(), "data"), s3.URL("p"), time.Second)
	id := addNotes(t, d, "alice", 3)
	if _, err := d.Replicator().Sync(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	s3.Put(t, "p/writer", []byte(`{"id":"another","host":"elsewhere","pid":7}`))
	select {
	case <-d.Gone():
	case <-time.After(time.Minute):
		t.Fatal("the server never noticed it lost its lease")
	}
	if err := d.GoneErr(); !errors.Is(err, replica.ErrWriterLost) || !strings.Contains(err.Error(), "elsewhere") {
		t.Fatalf("GoneErr = %v, want ErrWriterLost naming the new holder", err)
	}
	puts, keys := s3.Puts(), s3.Keys(t, "p/")
	if _, _, err := d.Pool().Acquire(t.Context(), id); !errors.Is(err, tenant.ErrUnavailable) {
		t.Fatalf("acquire after the loss: %v, want ErrUnavailable", err)
	}
	// routing.db stays open and attached: a write to it must not ship.
	if _, err := d.Routing().DB().ExecContext(t.Context(), "CREATE TABLE after_loss (x)"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // 50 sync intervals: nothing to wait on but their absence
	d.Close()
	if got := s3.Puts(); got != puts {
		t.Fatalf("%d uploads after the lease was lost", got-puts)
	}
	if got := s3.Keys(t, "p/"); !slices.Equal(got, keys) {
		t.Fatalf("the prefix changed after the lease was lost:\n%v\nwas\n%v", got, keys)
	}
	if b := string(s3.Get(t, "p/writer")); !strings.Contains(b, "another") {
		t.Fatalf("the new holder's lease became %q", b)
	}
}

func TestS3FailingDuringLeaseRefreshesKeepsTheServerServing(t *testing.T) {
	s3 := replicatest.New(t)
	d := mustOpenLeased(t, filepath.Join(t.TempDir(), "data"), s3.URL("p"), 300*time.Millisecond)
	id := addNotes(t, d, "alice", 1)
	s3.Fail(true)
	n, deadline := 1, time.Now().Add(time.Minute)
	for d.Replicator().Stats().WriterLeaseFailures < 2 {
		writeNotes(t, d, id, n, n+1) // every request succeeds meanwhile
		n++
		if _, err := d.Pool().Provision(t.Context(), fmt.Sprintf("user%d", n), nil); err != nil {
			t.Fatalf("signup while S3 is down: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no refresh failed while S3 was down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantServing(t, d)
	s3.Fail(false)
	seq := func() string { return string(s3.Get(t, "p/writer")) }
	was := seq()
	for deadline := time.Now().Add(time.Minute); seq() == was; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the lease was never refreshed once S3 was back")
		}
	}
	wantServing(t, d)
	writeNotes(t, d, id, n, n+1)
}

func TestServersStartedAtOnceOnAnEmptyPrefixOnlyOneServes(t *testing.T) {
	s3 := replicatest.New(t)
	for round := range 3 {
		url := s3.URL(fmt.Sprintf("race%d", round))
		opts := [2]Options{leasedOptions(t, url, time.Second), leasedOptions(t, url, time.Second)}
		var (
			wg   sync.WaitGroup
			ds   [2]*DataDir
			errs [2]error
		)
		start := make(chan struct{})
		for i := range 2 {
			dir := filepath.Join(t.TempDir(), "data")
			wg.Go(func() {
				<-start
				ds[i], errs[i] = openLeased(t, dir, opts[i])
			})
		}
		close(start)
		wg.Wait()
		serving := 0
		for i := range 2 {
			if errs[i] == nil {
				serving++
				wantServing(t, ds[i])
				ds[i].Close()
			} else {
				wantRefused(t, errs[i])
			}
		}
		if serving != 1 {
			t.Fatalf("round %d: %d servers serve the same prefix, want 1 (%v)", round, serving, errs)
		}
	}
}

func TestRestartWhileS3IsDownServesAndTakesTheLeaseWhenS3IsBack(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	d := mustOpenLeased(t, dir, s3.URL("p"), time.Second)
	id := addNotes(t, d, "alice", 1)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	s3.Fail(true)
	d = mustOpenLeased(t, dir, s3.URL("p"), time.Second)
	writeNotes(t, d, id, 1, 3) // served from its own files
	s3.Fail(false)
	waitFor(t, "the lease taken once S3 is back", func() bool {
		return strings.Contains(string(s3.Get(t, "p/writer")), fmt.Sprintf(`"pid":%d`, os.Getpid()))
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		if _, err := d.Replicator().Sync(ctx, id); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("alice's writes never shipped after the lease was taken: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantServing(t, d)
}

func TestRestartWhileS3IsDownUploadsNothingWhenAnotherServerHoldsThePrefix(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	d := mustOpenLeased(t, dir, s3.URL("p"), time.Second)
	id := addNotes(t, d, "alice", 1)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	s3.Fail(true)
	d = mustOpenLeased(t, dir, s3.URL("p"), time.Second)
	writeNotes(t, d, id, 1, 3)
	before := s3.Keys(t, "p/tenants/")
	// Meanwhile another server took the prefix over, and lives.
	s3.Fail(false)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	wg.Go(func() {
		for seq := 0; ; seq++ {
			s3.Put(t, "p/writer", fmt.Appendf(nil, `{"id":"another","host":"elsewhere","pid":7,"seq":%d}`, seq))
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	select {
	case <-d.Gone():
	case <-time.After(time.Minute):
		t.Fatal("the restarted server never found the prefix taken")
	}
	if err := d.GoneErr(); !errors.Is(err, replica.ErrWriterLost) || !strings.Contains(err.Error(), "elsewhere") {
		t.Fatalf("GoneErr = %v", err)
	}
	d.Close()
	if after := s3.Keys(t, "p/tenants/"); !slices.Equal(after, before) {
		t.Fatalf("the server uploaded into another's prefix:\n%v\nwas\n%v", after, before)
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
