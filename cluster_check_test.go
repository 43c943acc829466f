package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/cubbyhq/cubby/cluster/clustertest"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// TestCheckClusterFindsWhatIsWrong runs check --cluster on a healthy
// cluster of one node (exit 0), then breaks etcd's keys behind the node's
// back as a bug or an operator could and wants each break listed (exit 1).
func TestCheckClusterFindsWhatIsWrong(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, S3 and a node")
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	etcd := clustertest.Start(t)
	s3 := replicatest.New(t)
	n := startClusterNode(t, etcd, s3, "chk", "a")
	ctx := context.Background()
	for i := range 2 {
		u := &client{t: t}
		name := fmt.Sprintf("chk%d", i)
		if s, b := u.signup(n, name); s != http.StatusCreated {
			t.Fatalf("signup %s: %d %s", name, s, b)
		}
		if s, b := u.do(n, "POST", "/api/v1/notes", map[string]string{"title": "x"}); s != http.StatusCreated {
			t.Fatalf("note of %s: %d %s", name, s, b)
		}
		tn, err := n.d.Pool().Routing().Lookup(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.d.Replicator().Sync(ctx, tn.ID); err != nil {
			t.Fatalf("sync %s: %v", name, err)
		}
	}
	bucket := s3.URL("chk")
	wantRun(t, exitOK, []string{"cluster: 2 users, 1 live nodes, 2 owned tenants; checked directory and owner keys, replicas: 0 problem(s)"},
		"check", "--cluster", etcd.URL(), "--replicate-to", bucket)

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.Addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	old := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	record := func(id, name, state, updated string) string {
		return fmt.Sprintf(`{"id":%q,"username":%q,"state":%q,"schema_version":1,"created_at":%q,"updated_at":%q}`, id, name, state, updated, updated)
	}
	const (
		noReplica = "0123456789abcdef0123456789abcdef"
		stuck     = "1123456789abcdef0123456789abcdef"
		orphan    = "2123456789abcdef0123456789abcdef"
	)
	for k, v := range map[string]string{
		"/cubby/users/garbled":         "{not json",
		"/cubby/users/noreplica":       record(noReplica, "noreplica", "active", old),
		"/cubby/ids/" + noReplica:      "noreplica",
		"/cubby/users/stuck":           record(stuck, "stuck", "provisioning", old),
		"/cubby/ids/" + stuck:          "stuck",
		"/cubby/users/unindexed":       record("3123456789abcdef0123456789abcdef", "unindexed", "active", old),
		"/cubby/ids/" + orphan:         "nobody",
		"/cubby/users/mismatch":        record(stuck, "someone", "weird", old),
		"/cubby/owner/" + noReplica:    "ghost",
		"/cubby/owner/" + "4123456789": "a",
	} {
		if _, err := cli.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := wantRun(t, exitFailure, []string{
		"user garbled: the record does not decode",
		"user noreplica: tenant " + noReplica + " has no replica in the bucket",
		"user stuck: provisioning since",
		"user unindexed: tenant 3123456789abcdef0123456789abcdef is missing from the id index",
		"id index: tenant " + orphan + ` names user "nobody"`,
		"owner key: tenant " + noReplica + ` is owned by node "ghost", which is not live`,
		"owner key: tenant 4123456789 (owned by a) is not in the directory",
		"user unindexed: tenant 3123456789abcdef0123456789abcdef has no replica in the bucket",
		`user mismatch: the record names user "someone"`,
		`user mismatch: the id index gives tenant ` + stuck + ` to user "stuck"`,
		`user mismatch: unknown state "weird"`,
		"user stuck: tenant id " + stuck + " is also user mismatch's",
		"12 problem(s)",
	}, "check", "--cluster", etcd.URL(), "--replicate-to", bucket)
	if strings.Contains(out, "chk0") || strings.Contains(out, "chk1") {
		t.Errorf("check --cluster lists a healthy user:\n%s", out)
	}
	// Without --replicate-to the replica is not looked for.
	wantRun(t, exitFailure, []string{"10 problem(s)"}, "check", "--cluster", etcd.URL())
	wantRun(t, exitUsage, []string{"--replicate-to is for --cluster"}, "check", "--data", t.TempDir(), "--replicate-to", bucket)
	wantRun(t, exitUsage, []string{"--cluster:"}, "check", "--cluster", "http://127.0.0.1:1")
}
