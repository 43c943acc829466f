package replica_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	_ "modernc.org/sqlite"

	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

func TestCollectorNamesNoTenantAndNoPath(t *testing.T) {
	s3 := replicatest.New(t)
	dir := t.TempDir()
	r, err := replica.Open(t.Context(), replica.Config{URL: s3.URL("m"), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// A restore of a tenant without replica is counted as "none".
	id := "0123456789abcdef0123456789abcdef"
	if err := r.Restore(t.Context(), id, filepath.Join(dir, "x.db")); err == nil {
		t.Fatal("restore of a tenant without replica succeeded")
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(r.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.ContainsAny(l.GetValue(), "/.") || strings.Contains(l.GetValue(), id) {
					t.Errorf("%s has label %s=%q", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
			if mf.GetName() == "cubby_replication_restores_total" && hasLabel(m.GetLabel(), "none") && m.GetCounter().GetValue() != 1 {
				t.Errorf("restores{outcome=none} = %v, want 1", m.GetCounter().GetValue())
			}
		}
	}
	for _, name := range []string{"cubby_replication_attached", "cubby_replication_lag_seconds", "cubby_replication_requests_total",
		"cubby_replication_bytes_total", "cubby_replication_failures_total", "cubby_replication_restores_total"} {
		if !seen[name] {
			t.Errorf("%s is missing", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err == nil {
		t.Error("a restore without replica left a file")
	}
}

func hasLabel(ls []*dto.LabelPair, v string) bool {
	for _, l := range ls {
		if l.GetValue() == v {
			return true
		}
	}
	return false
}

func TestLitestreamSeriesStayOffTheDefaultRegistry(t *testing.T) {
	s3 := replicatest.New(t)
	dir := t.TempDir()
	r, err := replica.Open(t.Context(), replica.Config{URL: s3.URL("d"), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// A replicated database with a write and a sync behind it, so that
	// Litestream has set its per-database series.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "t.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE x (v); INSERT INTO x VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef0123456789abcdef"
	if err := r.Attach(t.Context(), id, filepath.Join(dir, "t.db")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "litestream_") {
			t.Errorf("the default registry serves %s", mf.GetName())
		}
	}
}
