package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/replica/replicatest"
	"github.com/cubbyhq/cubby/tenant"
)

// exists reports whether path is there.
func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// TestDeletedTenantsLeaveNoCopyOnFormerOwners: a user signed up on node a
// (which keeps the file it made) and then served by node b deletes their
// account through b. a, which owned the tenant once, must drop its copy
// (file and Litestream state) soon after, without being asked; a live
// user's copies stay on both nodes.
func TestDeletedTenantsLeaveNoCopyOnFormerOwners(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and two nodes")
	}
	ctx := context.Background()
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	a := startClusterNode(t, etcd, s3, "sweep", "a")
	b := startClusterNode(t, etcd, s3, "sweep", "b")
	users := map[string]*client{"leaver": {t: t}, "stayer": {t: t}}
	ids := map[string]string{}
	for name, u := range users {
		if s, body := u.signup(a, name); s != http.StatusCreated {
			t.Fatalf("signup %s: %d %s", name, s, body)
		}
		tn, err := a.d.Pool().Routing().Lookup(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = tn.ID
		// The signup gives the new tenant up once its first sync is in the
		// bucket; a keeps the file it made.
		// b must have seen it too: with its cache a watch behind, b would
		// forward the note to a, which would take the tenant back.
		waitFor(t, name+" given up by a, as a and b see it", 30*time.Second, func() bool {
			_, byA := a.d.Node().Owner(tn.ID)
			_, byB := b.d.Node().Owner(tn.ID)
			return !byA && !byB
		})
		if s, body := u.do(b, "POST", "/api/v1/notes", map[string]string{"title": "on b"}); s != http.StatusCreated {
			t.Fatalf("note of %s through b: %d %s", name, s, body)
		}
		if own, ok := b.d.Node().Owner(tn.ID); !ok || !own.Mine {
			t.Fatalf("%s is not owned by b after its note: %+v", name, own)
		}
	}
	copyOn := func(n *clusterNode, name string) string { return tenant.FilePath(n.d.Path(), ids[name]) }
	meta := filepath.Join(a.d.Path(), "replica", "tenants", ids["leaver"][:2], ids["leaver"])
	for name := range users {
		if !exists(t, copyOn(a, name)) {
			t.Fatalf("a kept no copy of %s: nothing to sweep", name)
		}
	}
	if !exists(t, meta) {
		t.Fatalf("a kept no replication state for leaver at %s", meta)
	}

	if s, body := users["leaver"].do(b, "DELETE", "/api/v1/account", map[string]string{"password": clusterPassword}); s != http.StatusNoContent {
		t.Fatalf("delete leaver through b: %d %s", s, body)
	}
	took := waitFor(t, "a drops its copy of the deleted tenant", 30*time.Second, func() bool {
		return !exists(t, copyOn(a, "leaver"))
	})
	t.Logf("a dropped its copy %v after the deletion answered", took.Round(time.Millisecond))
	for _, suffix := range []string{"-wal", "-shm"} {
		if exists(t, copyOn(a, "leaver")+suffix) {
			t.Errorf("a kept %s", copyOn(a, "leaver")+suffix)
		}
	}
	if exists(t, copyOn(b, "leaver")) {
		t.Errorf("b, which deleted the tenant, kept its file")
	}
	// Every claim's replica went with the account.
	r, err := replica.Open(ctx, replica.Config{URL: s3.URL("sweep"), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if tokens, err := r.ClaimTokens(ctx, ids["leaver"]); err != nil || len(tokens) != 0 {
		t.Errorf("the deleted tenant's claims %v are still in the bucket (%v)", tokens, err)
	}
	// The live one keeps its current claim's; b's first upload superseded a's.
	waitFor(t, "the live tenant has one claim's replica in the bucket", 20*time.Second, func() bool {
		tokens, err := r.ClaimTokens(ctx, ids["stayer"])
		return err == nil && len(tokens) == 1
	})
	// A sweep now, and another, leaves the live user alone everywhere.
	a.d.Sweep()
	b.d.Sweep()
	if exists(t, meta) {
		t.Errorf("a kept the deleted tenant's replication state at %s", meta)
	}
	for _, n := range []*clusterNode{a, b} {
		if !exists(t, copyOn(n, "stayer")) {
			t.Errorf("%s dropped the copy of a live user", n.id)
		}
	}
	if s, titles := users["stayer"].notesOf(a); s != http.StatusOK || joined(titles) != "on b" {
		t.Errorf("stayer reads %d %v through a", s, titles)
	}
}

// TestStuckSignupsAreSwept: a signup that crashed mid-way leaves its record
// provisioning; a node's sweep removes one older than the bound (record,
// id index, replica and local file) and leaves a fresh one alone.
func TestStuckSignupsAreSwept(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and a node")
	}
	ctx := context.Background()
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	a := startClusterNode(t, etcd, s3, "stuck", "a")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.Addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	record := func(id, name string, updated time.Time) string {
		ts := updated.UTC().Format(time.RFC3339Nano)
		return fmt.Sprintf(`{"id":%q,"username":%q,"state":"provisioning","schema_version":0,"created_at":%q,"updated_at":%q}`, id, name, ts, ts)
	}
	const (
		stuck = "a0123456789abcdef0123456789abcde"
		fresh = "b0123456789abcdef0123456789abcde"
	)
	for k, v := range map[string]string{
		"/cubby/users/crashed":   record(stuck, "crashed", time.Now().Add(-time.Hour)),
		"/cubby/ids/" + stuck:    "crashed",
		"/cubby/users/signingup": record(fresh, "signingup", time.Now()),
		"/cubby/ids/" + fresh:    "signingup",
	} {
		if _, err := cli.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	// The crashed signup had made its file on a, as a signup does.
	for _, id := range []string{stuck, fresh} {
		path := tenant.FilePath(a.d.Path(), id)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a sees both records", 10*time.Second, func() bool {
		_, e1 := a.d.Pool().Routing().Get(ctx, stuck)
		_, e2 := a.d.Pool().Routing().Get(ctx, fresh)
		return e1 == nil && e2 == nil
	})
	a.d.Sweep()
	if _, err := a.d.Pool().Routing().Lookup(ctx, "crashed"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("the stuck signup's record is still there: %v", err)
	}
	if resp, err := cli.Get(ctx, "/cubby/ids/"+stuck); err != nil || len(resp.Kvs) != 0 {
		t.Errorf("the stuck signup's id index is still there: %v", err)
	}
	if exists(t, tenant.FilePath(a.d.Path(), stuck)) {
		t.Errorf("the stuck signup's file is still there")
	}
	if tn, err := a.d.Pool().Routing().Lookup(ctx, "signingup"); err != nil || tn.State != tenant.StateProvisioning {
		t.Errorf("a fresh signup was swept: %+v %v", tn, err)
	}
	if !exists(t, tenant.FilePath(a.d.Path(), fresh)) {
		t.Errorf("a fresh signup's file was swept")
	}
	// The name is free again.
	u := &client{t: t}
	if s, body := u.signup(a, "crashed"); s != http.StatusCreated {
		t.Fatalf("signup with the swept name: %d %s (node a's lease: %v)", s, body, a.d.Node().Err())
	}
}
