//go:build stress

package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/replica/replicatest"
	"github.com/cubbyhq/cubby/tenant"
)

// appender is one user adding notes one after another; acked lists the
// bodies the server acknowledged, in order, with when.
type appender struct {
	*httpUser
	id      string
	acked   []string
	at      []time.Time
	pending string
}

func (a *appender) add(base string) bool {
	body := fmt.Sprintf("%s note %d", a.name, len(a.acked))
	a.pending = body
	code, _, err := a.send(base, "POST", "/api/v1/notes", map[string]string{"title": "t", "body": body})
	if err != nil || code != http.StatusCreated {
		return false
	}
	a.acked, a.at, a.pending = append(a.acked, body), append(a.at, time.Now()), ""
	return true
}

// bodiesIn reads the note bodies of a tenant file, in insertion order.
func bodiesIn(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT body FROM notes ORDER BY id")
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// tenantIDs maps usernames to tenant ids from a data directory's routing.db.
func tenantIDs(t *testing.T, dir string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, tenant.RoutingFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT username, id FROM tenants")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var u, id string
		if err := rows.Scan(&u, &id); err != nil {
			t.Fatal(err)
		}
		out[u] = id
	}
	return out
}

// awaitReplicated waits until every appender's replica holds at least its
// acknowledged notes, restoring each from the bucket to look.
func awaitReplicated(t *testing.T, url string, as []*appender) {
	t.Helper()
	r, err := replica.Open(context.Background(), replica.Config{URL: url, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for _, a := range as {
		for {
			tmp := t.TempDir()
			path := filepath.Join(tmp, "t.db")
			err := r.RestoreTenant(context.Background(), a.id, path, tmp)
			if err == nil && len(bodiesIn(t, path)) >= len(a.acked) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was never replicated: %v", a.name, err)
			}
			time.Sleep(50 * time.Millisecond) // polling the bucket: nothing to wait on
		}
	}
}

// A SIGKILL in the middle of writes, then the machine lost: what
// `restore --from` brings back is, for every user, a prefix of the
// acknowledged writes that holds everything replicated before the writes
// began; what is lost is at most the last replication window.
func TestCrashThenRestoreFromS3LosesAtMostTheReplicationWindow(t *testing.T) {
	s3 := replicatest.New(t)
	url := s3.URL("crash")
	bin := buildCubby(t)
	dir := filepath.Join(t.TempDir(), "data")
	srv := startCubby(t, bin, dir, "--replicate-to", url)
	var as []*appender
	for i := range 8 {
		u := newHTTPUser(fmt.Sprintf("app%02d", i))
		code, b, err := u.send(srv.base, "POST", "/api/v1/signup", map[string]string{"username": u.name, "password": "correct horse"})
		if err != nil || code != http.StatusCreated {
			t.Fatalf("signup %s: %d %v %s", u.name, code, err, b)
		}
		as = append(as, &appender{httpUser: u})
	}
	ids := tenantIDs(t, dir)
	for _, a := range as {
		a.id = ids[a.name]
		for range 10 {
			if !a.add(srv.base) {
				t.Fatalf("%s: a write failed before the crash", a.name)
			}
		}
	}
	awaitReplicated(t, url, as)
	safe := make([]int, len(as))
	for i, a := range as {
		safe[i] = len(a.acked)
	}

	var wg sync.WaitGroup
	for _, a := range as {
		wg.Go(func() {
			for a.add(srv.base) {
			}
		})
	}
	time.Sleep(time.Duration(500+rand.IntN(1000)) * time.Millisecond) // chaos: kill at a random moment
	killedAt := time.Now()
	srv.kill()
	wg.Wait()
	if err := os.RemoveAll(dir); err != nil { // the machine is gone
		t.Fatal(err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := exec.Command(bin, "restore", "--from", url, "--data", restored).CombinedOutput(); err != nil {
		t.Fatalf("restore --from: %v\n%s", err, out)
	}
	lost, total := 0, 0
	var oldestLost time.Duration
	for i, a := range as {
		got := bodiesIn(t, tenant.FilePath(restored, a.id))
		k := len(got)
		if a.pending != "" && k == len(a.acked)+1 && got[k-1] == a.pending {
			k-- // the write in flight at the kill made it
		}
		if k > len(a.acked) || !slices.Equal(got[:k], a.acked[:k]) {
			t.Fatalf("%s: restored notes are not a prefix of the acknowledged ones:\n got %v\nacked %v", a.name, got, a.acked)
		}
		if k < safe[i] {
			t.Fatalf("%s: lost writes that were replicated before the crash (%d of %d kept)", a.name, k, safe[i])
		}
		total += len(a.acked)
		lost += len(a.acked) - k
		if k < len(a.acked) {
			oldestLost = max(oldestLost, killedAt.Sub(a.at[k]))
		}
	}
	t.Logf("%d acknowledged writes, %d lost with the machine; the oldest lost was acknowledged %v before the kill", total, lost, oldestLost.Round(time.Millisecond))
}

// The cubby bench throughput with replication off and on, for
// BENCHMARKS.md; it runs only when asked:
//
//	CUBBY_REPL_BENCH=1 go test -tags stress -count=1 -run ReplicationBench -v .
func TestReplicationBenchOffAndOn(t *testing.T) {
	if os.Getenv("CUBBY_REPL_BENCH") == "" {
		t.Skip("set CUBBY_REPL_BENCH=1 to measure")
	}
	s3 := replicatest.New(t)
	bin := buildCubby(t)
	for round := range 2 {
		for _, on := range []bool{false, true} {
			var extra []string
			if on {
				extra = []string{"--replicate-to", s3.URL(fmt.Sprintf("bench%d", round))}
			}
			srv := startCubby(t, bin, filepath.Join(t.TempDir(), "data"), append(extra, "--max-open", "64")...)
			out, err := exec.Command(bin, "bench", "--url", srv.base, "--scenario", "read,write-many,mixed",
				"--duration", "5s", "--users", "64", "--concurrency", "32").CombinedOutput()
			srv.stop()
			if err != nil {
				t.Fatalf("bench: %v\n%s", err, out)
			}
			t.Logf("round %d, replication %v:\n%s", round, on, out)
		}
	}
}
