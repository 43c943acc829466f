package main

import (
	"context"
	"database/sql"
	"net/http"
	"testing"
	"time"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
	"github.com/cubbyhq/cubby/tenant"
)

// TestAFrozenOwnerWakingUpCannotForkTheReplica plays the owner that a
// stopped VM or SIGSTOP froze past its lease: node a owns a user and is
// cut off from etcd (it stops serving; its lease expires), node b takes
// the user over and writes. Then a's process "wakes up": a transaction
// lands in its old copy of the file and its replicator, still holding the
// claim it had, uploads it. b must keep serving what it wrote, and a later
// owner (node c, after b stopped) must restore b's state, none of a's.
// Before each claim replicated under its own token, a's upload landed in
// the path b replicated to, and c restored a's fork: b's writes lost.
func TestAFrozenOwnerWakingUpCannotForkTheReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and three nodes")
	}
	ctx := context.Background()
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	a := startClusterNode(t, etcd, s3, "frozen", "a")
	b := startClusterNode(t, etcd, s3, "frozen", "b")
	u := &client{t: t}
	if s, body := u.signup(a, "sleeper"); s != http.StatusCreated {
		t.Fatalf("signup: %d %s", s, body)
	}
	if s, body := u.do(a, "POST", "/api/v1/notes", map[string]string{"title": "a1"}); s != http.StatusCreated {
		t.Fatalf("note a1: %d %s", s, body)
	}
	tn, err := a.d.Pool().Routing().Lookup(ctx, "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.d.Replicator().Sync(ctx, tn.ID); err != nil {
		t.Fatalf("sync a1: %v", err)
	}

	// a loses etcd (not S3): it stops serving, and b takes the user over
	// once a's lease has expired.
	a.etcd.Cut()
	select {
	case <-a.d.Node().Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("a never noticed it was cut off from etcd")
	}
	waitFor(t, "b serves the user", 30*time.Second, func() bool {
		s, _ := u.notesOf(b)
		return s == http.StatusOK
	})
	for _, title := range []string{"b1", "b2"} {
		if s, body := u.do(b, "POST", "/api/v1/notes", map[string]string{"title": title}); s != http.StatusCreated {
			t.Fatalf("note %s through b: %d %s", title, s, body)
		}
	}
	if _, err := b.d.Replicator().Sync(ctx, tn.ID); err != nil {
		t.Fatalf("sync b's notes: %v", err)
	}

	// a wakes up: its copy takes a write and its replicator uploads it
	// under the claim a still believes it holds.
	path := tenant.FilePath(a.d.Path(), tn.ID)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if _, err := db.Exec("INSERT INTO notes (title, created_at, updated_at) VALUES ('a-late', ?, ?)", now, now); err != nil {
		t.Fatal(err)
	}
	rep := a.d.Replicator()
	if err := rep.Attach(ctx, tn.ID, path); err != nil {
		t.Fatalf("a's late attach: %v", err)
	}
	if _, err := rep.Sync(ctx, tn.ID); err != nil {
		t.Fatalf("a's late upload: %v", err)
	}
	rep.Detach(tn.ID, path)
	db.Close()

	const want = "b2|b1|a1"
	if s, titles := u.notesOf(b); s != http.StatusOK || joined(titles) != want {
		t.Fatalf("after a's late upload b reads %d %v, want %s", s, titles, want)
	}
	// a's late upload brought back the path b superseded: never read, and
	// check --cluster names it.
	wantRun(t, exitFailure, []string{"user sleeper: tenant " + tn.ID + " has the replica of an earlier claim", "1 problem(s)"},
		"check", "--cluster", etcd.URL(), "--replicate-to", s3.URL("frozen"))
	b.stop(t)
	c := startClusterNode(t, etcd, s3, "frozen", "c")
	if s, titles := u.notesOf(c); s != http.StatusOK || joined(titles) != want {
		t.Fatalf("the next owner restored %d %v, want %s: a's late upload reached the replica it reads", s, titles, want)
	}
}
