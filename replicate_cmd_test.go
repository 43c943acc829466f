package main

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/replica/replicatest"
	"github.com/cubbyhq/cubby/tenant"
)

// replicatedDir makes a data directory replicated to prefix on s3 with one
// tenant per name holding one note, and one more ("ghost") whose replica is
// then deleted. It returns the data directory.
func replicatedDir(t *testing.T, s3 *replicatest.S3, prefix string, names ...string) string {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	d, err := datadir.Open(context.Background(), dir, datadir.Options{
		Migrations: ms, Create: true, Replicate: replica.Config{URL: s3.URL(prefix)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		tn, err := d.Pool().Provision(context.Background(), n, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, release, err := d.Pool().Acquire(context.Background(), tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.ExecContext(context.Background(), "INSERT INTO notes (title, body, created_at, updated_at) VALUES ('hello', '', '', '')")
		release()
		if err != nil {
			t.Fatal(err)
		}
	}
	ghost, err := d.Pool().Provision(context.Background(), "ghost", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	s3.DeletePrefix(t, prefix+"/tenants/"+ghost.ID[:2]+"/"+ghost.ID+"/")
	return dir
}

func TestRestoreFromS3ListsTenantsWithoutReplicaAndExitsOne(t *testing.T) {
	s3 := replicatest.New(t)
	url := s3.URL("cmd")
	replicatedDir(t, s3, "cmd", "alice", "bob")
	target := filepath.Join(t.TempDir(), "restored")
	wantRun(t, exitFailure, []string{"restored routing.db and 2 tenant(s)", "missing: tenant", "(ghost) has no replica"},
		"restore", "--from", url, "--data", target, "--jobs", "2")
	ents, err := os.ReadDir(filepath.Join(target, "tenants"))
	if err != nil || len(ents) == 0 {
		t.Fatalf("no tenant restored: %v", err)
	}
	if n := sqlCount(t, filepath.Join(target, tenant.RoutingFile), "SELECT count(*) FROM tenants"); n != 3 {
		t.Fatalf("restored routing.db lists %d tenants, want 3", n)
	}
}

func TestRestoreFromS3Lazy(t *testing.T) {
	s3 := replicatest.New(t)
	url := s3.URL("lazy")
	replicatedDir(t, s3, "lazy", "alice")
	target := filepath.Join(t.TempDir(), "restored")
	wantRun(t, exitOK, []string{"restored routing.db into", "when first opened"}, "restore", "--from", url, "--data", target, "--lazy")
	if _, err := os.Stat(filepath.Join(target, "tenants")); err == nil {
		ents, _ := os.ReadDir(filepath.Join(target, "tenants"))
		if len(ents) != 0 {
			t.Fatalf("--lazy restored tenants: %v", ents)
		}
	}
}

func TestRestoreFromS3Refusals(t *testing.T) {
	s3 := replicatest.New(t)
	empty := filepath.Join(t.TempDir(), "restored")
	wantRun(t, exitFailure, []string{"holds no replica of a routing.db"}, "restore", "--from", s3.URL("nothing"), "--data", empty)
	if _, err := os.Stat(empty); err == nil {
		t.Fatal("a failed restore left the data directory it made")
	}
	wantRun(t, exitUsage, []string{"--jobs must be at least 1"}, "restore", "--from", s3.URL("x"), "--data", empty, "--jobs", "0")
	wantRun(t, exitFailure, []string{"only s3://BUCKET/PREFIX"}, "serve", "--data", empty, "--addr", "127.0.0.1:0", "--replicate-to", "gs://b/p")
}

func TestServeWithReplicationShowsItInMetrics(t *testing.T) {
	s3 := replicatest.New(t)
	o := serveOptions{data: filepath.Join(t.TempDir(), "data"), maxOpen: 8, signupLimit: 0, replicateTo: s3.URL("srv")}
	_, metrics, d, _, err := openApp(context.Background(), o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rec := httptest.NewRecorder()
	metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"cubby_replication_attached 1", `cubby_replication_requests_total{outcome="ok"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "litestream_") || strings.Contains(body, o.data) {
		t.Error("/metrics shows Litestream's per-database series or a path")
	}
}

func TestDeleteUserWithReplicationRemovesTheReplica(t *testing.T) {
	s3 := replicatest.New(t)
	dir := replicatedDir(t, s3, "del", "alice", "bob")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, tenant.RoutingFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var id string
	err = db.QueryRow("SELECT id FROM tenants WHERE username = 'alice'").Scan(&id)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	alice := "del/tenants/" + id[:2] + "/" + id + "/"
	if len(s3.Keys(t, alice)) == 0 {
		t.Fatal("alice has no replica to begin with")
	}
	wantRun(t, exitOK, []string{`deleted user "alice"`}, "delete-user", "--data", dir, "--replicate-to", s3.URL("del"), "alice")
	if keys := s3.Keys(t, alice); len(keys) != 0 {
		t.Fatalf("alice's replica is still there: %v", keys)
	}
}
