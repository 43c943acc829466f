package datadir

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/replica/replicatest"
	"github.com/cubbyhq/cubby/tenant"
)

// modelOp applies one random write to tenant id and to its model.
func modelOp(t *testing.T, d *DataDir, id string, rng *rand.Rand, model map[string][]string, seq *int) {
	t.Helper()
	s, release, err := d.Pool().Acquire(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	rows := model[id]
	switch op := rng.IntN(4); {
	case op == 0 && len(rows) > 0: // delete one
		i := rng.IntN(len(rows))
		if _, err := s.ExecContext(t.Context(), "DELETE FROM notes WHERE title = ?", rows[i]); err != nil {
			t.Fatal(err)
		}
		model[id] = slices.Delete(rows, i, i+1)
	case op == 1 && len(rows) > 0: // rename one
		i := rng.IntN(len(rows))
		*seq++
		name := fmt.Sprintf("t%d", *seq)
		if _, err := s.ExecContext(t.Context(), "UPDATE notes SET title = ? WHERE title = ?", name, rows[i]); err != nil {
			t.Fatal(err)
		}
		rows[i] = name
	default: // add one
		*seq++
		name := fmt.Sprintf("t%d", *seq)
		if _, err := s.ExecContext(t.Context(), "INSERT INTO notes (title, body, created_at, updated_at) VALUES (?, ?, '', '')",
			name, fmt.Sprint(rng.Int64())); err != nil {
			t.Fatal(err)
		}
		model[id] = append(rows, name)
	}
}

func TestRestoreFromReplicaAfterWipeEqualsTheModel(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	// Evictions on the way, and level-1 compactions every 50 ms, so that
	// the restore reads compacted files as well as fresh ones.
	o := testOptions(t)
	o.Create, o.Pool.MaxOpen = true, 3
	o.Replicate = replica.Config{URL: s3.URL("m"), SyncInterval: 10 * time.Millisecond, CompactInterval: 50 * time.Millisecond}
	d, err := Open(t.Context(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string][]string{}
	var ids []string
	for i := range 8 {
		tn, err := d.Pool().Provision(t.Context(), fmt.Sprintf("user%d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
		model[tn.ID] = nil
	}
	seq := 0
	for range 400 {
		modelOp(t, d, ids[rng.IntN(len(ids))], rng, model, &seq)
	}
	// One tenant whose replica is gone (lost with the bucket's lifecycle
	// rules, say).
	lost, err := d.Pool().Provision(t.Context(), "never", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	compacted := 0
	for _, k := range s3.Keys(t, "m/tenants/") {
		if strings.Contains(k, "/0001/") {
			compacted++
		}
	}
	if compacted == 0 {
		t.Fatal("no level-1 compaction happened; the test needs some")
	}
	t.Logf("%d level-1 files", compacted)
	s3.DeletePrefix(t, "m/tenants/"+lost.ID[:2]+"/"+lost.ID+"/")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	rep, err := RestoreFromReplica(t.Context(), s3.URL("m"), dir, ReplicaRestoreOptions{Jobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tenants != len(ids) || len(rep.Missing) != 1 || rep.Missing[0].ID != lost.ID {
		t.Fatalf("restored %d, missing %v; want %d and %s", rep.Tenants, rep.Missing, len(ids), lost.ID)
	}
	d = mustOpenReplicated(t, dir, s3.URL("m"), 3) // the same prefix: bound by the restore
	for _, id := range ids {
		got, err := titles(t, d, id)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(model[id])
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("tenant %s: restored %v, model %v", id, got, want)
		}
		fi, err := os.Stat(tenant.FilePath(dir, id))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("restored file: %v, %v", fi, err)
		}
	}
}

func TestRestoreFromReplicaRefusesANonEmptyDirectory(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	d := mustOpenReplicated(t, dir, s3.URL("m"), 3)
	addNotes(t, d, "alice", 1)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	before := names(t, dir)
	if _, err := RestoreFromReplica(t.Context(), s3.URL("m"), dir, ReplicaRestoreOptions{}); !errors.Is(err, tenant.ErrNotEmpty) {
		t.Fatalf("restore into a used directory = %v, want ErrNotEmpty", err)
	}
	if after := names(t, dir); !slices.Equal(before, after) {
		t.Fatalf("directory changed: %v → %v", before, after)
	}
}

func TestLazyRestoreBringsTenantsBackOnOpen(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	d := mustOpenReplicated(t, dir, s3.URL("l"), 3)
	id := addNotes(t, d, "alice", 7)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if _, err := RestoreFromReplica(t.Context(), s3.URL("l"), dir, ReplicaRestoreOptions{Lazy: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tenant.FilePath(dir, id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lazy restore wrote the tenant: %v", err)
	}
	d = mustOpenReplicated(t, dir, s3.URL("l"), 3)
	if got, err := titles(t, d, id); err != nil || len(got) != 7 {
		t.Fatalf("after lazy restore: %v, %v", got, err)
	}
}

func TestS3DownBlocksNoRequestAndTheBacklogShipsLater(t *testing.T) {
	s3 := replicatest.New(t)
	dir := filepath.Join(t.TempDir(), "data")
	o := testOptions(t)
	o.Create = true
	o.Pool.MaxOpen = 2
	o.Replicate = replica.Config{URL: s3.URL("f"), SyncInterval: 10 * time.Millisecond,
		CompactInterval: time.Hour, DetachTimeout: 5 * time.Second}
	d, err := Open(t.Context(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var ids []string
	for i := range 5 {
		ids = append(ids, addNotes(t, d, fmt.Sprintf("u%d", i), 1))
	}
	s3.Fail(true)
	for round := 1; round < 4; round++ { // evictions and reopens, all while S3 answers 503
		for _, id := range ids {
			writeNotes(t, d, id, round, round+1)
		}
	}
	// An upload asked for now fails, and is counted.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := d.Replicator().Sync(ctx, ids[len(ids)-1]); err == nil {
		t.Fatal("a sync to a failing S3 succeeded")
	}
	if n := d.Replicator().Stats().Failures; n == 0 {
		t.Fatal("no failed S3 call was counted")
	}
	s3.Fail(false)
	if err := d.Close(); err != nil { // S3 is back: the final syncs ship the backlog
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if _, err := RestoreFromReplica(t.Context(), s3.URL("f"), dir, ReplicaRestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	plain := openTest(t, dir)
	for _, id := range ids {
		s, release, err := plain.Pool().Acquire(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = s.GetContext(t.Context(), &n, "SELECT count(*) FROM notes")
		release()
		if err != nil || n != 4 {
			t.Fatalf("tenant %s has %d notes after the outage (%v), want 4", id, n, err)
		}
	}
}

func TestExportOfAReplicatedTenantHasNoLitestreamTables(t *testing.T) {
	s3 := replicatest.New(t)
	d := mustOpenReplicated(t, filepath.Join(t.TempDir(), "data"), s3.URL("e"), 3)
	id := addNotes(t, d, "alice", 2)
	if _, err := d.Replicator().Sync(t.Context(), id); err != nil { // Litestream has made its tables
		t.Fatal(err)
	}
	live, release, err := d.Pool().Acquire(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var inLive int
	err = live.GetContext(t.Context(), &inLive, "SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_litestream%' ESCAPE '\\'")
	release()
	if err != nil || inLive == 0 {
		t.Fatalf("the live file holds %d Litestream tables (%v); the test needs some", inLive, err)
	}
	f, err := d.Pool().Export(t.Context(), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	copyPath := filepath.Join(t.TempDir(), "x.db")
	b := readAll(t, f) // the export is unlinked: read it through the open file
	if err := os.WriteFile(copyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlx.Open("sqlite", copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.Get(&n, "SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_litestream%' ESCAPE '\\'"); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("export holds %d Litestream tables", n)
	}
}

func readAll(t *testing.T, f *os.File) []byte {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}
