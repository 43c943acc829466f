package tenant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseMigrations(t *testing.T) {
	cases := []struct {
		name, src string
		want      int
		wantErr   string
	}{
		{"two blocks", testSchema, 2, ""},
		{"leading comments", "-- hi\n\n-- migration: 1\nCREATE TABLE a (x);\n", 1, ""},
		{"no blocks", "-- nothing\n", 0, "no"},
		{"sql before header", "CREATE TABLE a (x);\n-- migration: 1\nCREATE TABLE b (x);", 0, "before the first"},
		{"skipped number", "-- migration: 1\nCREATE TABLE a (x);\n-- migration: 3\nCREATE TABLE b (x);", 0, "want"},
		{"not a number", "-- migration: one\nCREATE TABLE a (x);", 0, "want"},
		{"empty block", "-- migration: 1\n-- only a comment\n-- migration: 2\nCREATE TABLE b (x);", 0, "empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms, err := ParseMigrations(c.src)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil || len(ms) != c.want {
				t.Fatalf("got %d migrations, err %v; want %d", len(ms), err, c.want)
			}
			for i, m := range ms {
				if m.Version != i+1 {
					t.Errorf("migration %d has version %d", i, m.Version)
				}
			}
		})
	}
}

func TestProjectSchemaParsesAndApplies(t *testing.T) {
	src, err := os.ReadFile("../schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ParseMigrations(string(src))
	if err != nil {
		t.Fatal(err)
	}
	p := newTestPool(t, Config{Migrations: ms})
	tn, err := p.Provision(context.Background(), "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, release, err := p.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx := context.Background()
	if _, err := s.ExecContext(ctx, "INSERT INTO notes (title, body, created_at, updated_at) VALUES ('groceries', 'buy apples', 'x', 'x')"); err != nil {
		t.Fatal(err)
	}
	// Written, the note waits to be indexed in a batch (notes.indexPending).
	var n int
	if err := s.GetContext(ctx, &n, "SELECT count(*) FROM notes WHERE pending = 1"); err != nil || n != 1 {
		t.Fatalf("pending notes = %d, %v; want 1", n, err)
	}
	for _, q := range []string{
		"INSERT INTO notes_fts (rowid, title, body) SELECT id, title, body FROM notes WHERE pending = 1",
		"UPDATE notes SET pending = 0 WHERE pending = 1",
	} {
		if _, err := s.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.GetContext(ctx, &n, "SELECT count(*) FROM notes_fts WHERE notes_fts MATCH '\"apples\"'"); err != nil || n != 1 {
		t.Fatalf("fts match = %d, %v; want 1", n, err)
	}
}

// FuzzParseMigrations: the parser never panics; what it accepts is
// numbered 1..N with non-empty bodies, one per header line, and written
// back out it parses to the same migrations.
func FuzzParseMigrations(f *testing.F) {
	f.Add(testSchema)
	f.Add("-- migration: 1\nSELECT 1;")
	f.Add("-- migration: 2\n")
	f.Add("-- note\n\n  -- migration:  1 \r\nSELECT 1;\r\n-- migration: 2\n-- only a comment\n")
	f.Fuzz(func(t *testing.T, src string) {
		ms, err := ParseMigrations(src)
		if err != nil {
			return
		}
		headers := 0
		for _, line := range strings.Split(src, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), migrationHeader) {
				headers++
			}
		}
		if headers != len(ms) {
			t.Fatalf("%d header lines but %d migrations", headers, len(ms))
		}
		var out strings.Builder
		for i, m := range ms {
			if m.Version != i+1 || !hasStatement(m.SQL) || m.SQL != strings.TrimSpace(m.SQL) {
				t.Fatalf("accepted bad migration %d: %+v", i, m)
			}
			fmt.Fprintf(&out, "%s %d\n%s\n", migrationHeader, m.Version, m.SQL)
		}
		again, err := ParseMigrations(out.String())
		if err != nil || !slices.Equal(again, ms) {
			t.Fatalf("written back out, %+v parses to %+v, %v", ms, again, err)
		}
	})
}

func TestOpenMigratesOlderFile(t *testing.T) {
	dir := t.TempDir()
	ms := testMigrations(t)
	old := newTestPool(t, Config{Dir: dir, Migrations: ms[:1]})
	tn := mustProvision(t, old, "bob")
	old.Close()

	p := newTestPool(t, Config{Dir: dir, Migrations: ms})
	s, release, err := p.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := s.ExecContext(context.Background(), "INSERT INTO items (v, n) VALUES ('a', 1)"); err != nil {
		t.Fatalf("migration 2 not applied: %v", err)
	}
	got, _ := p.Directory().Get(context.Background(), tn.ID)
	if got.SchemaVersion != 2 || got.State != StateActive {
		t.Fatalf("directory says version %d state %s; want 2 active", got.SchemaVersion, got.State)
	}
}

func TestFileNewerThanBinaryIsRefused(t *testing.T) {
	dir := t.TempDir()
	ms := testMigrations(t)
	newer := newTestPool(t, Config{Dir: dir, Migrations: ms})
	tn := mustProvision(t, newer, "carol")
	newer.Close()

	p := newTestPool(t, Config{Dir: dir, Migrations: ms[:1]})
	_, _, err := p.Acquire(context.Background(), tn.ID)
	var tooNew *TooNewError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &tooNew) {
		t.Fatalf("err = %v; want ErrUnavailable with TooNewError", err)
	}
	if tooNew.FileVersion != 2 || tooNew.BinaryVersion != 1 {
		t.Fatalf("got %+v", tooNew)
	}
}

func TestFailingMigrationMarksTenantAndOthersGoOn(t *testing.T) {
	dir := t.TempDir()
	ms := testMigrations(t)
	base := newTestPool(t, Config{Dir: dir, Migrations: ms[:1]})
	good := mustProvision(t, base, "good")
	bad := mustProvision(t, base, "bad")
	// Make bad's file refuse migration 2: the column already exists.
	s, release, err := base.Acquire(context.Background(), bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExecContext(context.Background(), "ALTER TABLE items ADD COLUMN n INTEGER"); err != nil {
		t.Fatal(err)
	}
	release()
	base.Close()

	p := newTestPool(t, Config{Dir: dir, Migrations: ms})
	var calls int
	res, err := p.MigrateAll(context.Background(), 4, func(done, total int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || len(res) != 2 {
		t.Fatalf("progress calls %d, results %d; want 2, 2", calls, len(res))
	}
	for _, r := range res {
		switch r.Tenant.ID {
		case good.ID:
			if r.Err != nil || r.From != 1 || r.To != 2 {
				t.Errorf("good: %+v", r)
			}
		case bad.ID:
			var me *MigrationError
			if !errors.As(r.Err, &me) || me.Version != 2 || r.To != 1 {
				t.Errorf("bad: %+v", r)
			}
		}
	}
	row, _ := p.Directory().Get(context.Background(), bad.ID)
	if row.State != StateFailed || row.Error == "" {
		t.Fatalf("bad row = %+v; want failed with an error", row)
	}
	if _, _, err := p.Acquire(context.Background(), bad.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("acquire failed tenant: %v; want ErrUnavailable", err)
	}
	if st := p.Stats(); st.MigrateFailed < 2 || st.Migrated != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Second run: the good tenant is current and costs no write.
	res, _ = p.MigrateAll(context.Background(), 1, nil)
	for _, r := range res {
		if r.Tenant.ID == good.ID && (r.Err != nil || r.From != 2) {
			t.Errorf("re-run good: %+v", r)
		}
	}
}

func TestFailedTenantIsRetriedAtNextOpen(t *testing.T) {
	dir := t.TempDir()
	ms := testMigrations(t)
	base := newTestPool(t, Config{Dir: dir, Migrations: ms[:1]})
	tn := mustProvision(t, base, "dave")
	s, release, _ := base.Acquire(context.Background(), tn.ID)
	s.ExecContext(context.Background(), "ALTER TABLE items ADD COLUMN n INTEGER")
	release()
	base.Close()

	p := newTestPool(t, Config{Dir: dir, Migrations: ms})
	if _, _, err := p.Acquire(context.Background(), tn.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	// An operator repairs the file; the next open succeeds and clears the mark.
	db, err := p.openFile(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("ALTER TABLE items DROP COLUMN n"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, release, err = p.Acquire(context.Background(), tn.ID)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	release()
	row, _ := p.Directory().Get(context.Background(), tn.ID)
	if row.State != StateActive || row.Error != "" || row.SchemaVersion != 2 {
		t.Fatalf("row after retry = %+v", row)
	}
}
