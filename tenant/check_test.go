package tenant

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// corruptPage flips a few bytes in the b-tree header of table's root page,
// as a bad sector or a stray write would, leaving the rest of the file be.
func corruptPage(t testing.TB, path, table string) {
	t.Helper()
	db, err := openReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	var root int64
	err = db.Get(&root, "SELECT rootpage FROM sqlite_schema WHERE name = ?", table)
	db.Close()
	if err != nil || root < 2 {
		t.Fatalf("root page of %s = %d, %v", table, root, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var hdr [18]byte
	_, err = io.ReadFull(f, hdr[:])
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	for i := int64(3); i < 7; i++ { // cell count and cell content offset
		flipByte(t, path, (root-1)*pageSize+i)
	}
}

// overwriteWithGarbage replaces a file's bytes with random ones.
func overwriteWithGarbage(t testing.TB, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, fi.Size())
	rand.NewChaCha8([32]byte{1}).Read(junk)
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
}

// setUserVersion marks a tenant file as written by a binary that knows
// version v.
func setUserVersion(t testing.TB, path string, v int) {
	t.Helper()
	db, err := sqlx.Open("sqlite", "file:"+escapePath(path)+"?mode=rw")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		t.Fatal(err)
	}
}

// damagedDir makes a data directory with one case of everything Check must
// report, and returns it with the problems expected ("kind id username").
func damagedDir(t testing.TB) (string, []string) {
	t.Helper()
	ctx := context.Background()
	p := newTestPool(t, Config{})
	ts := map[string]Tenant{}
	for _, name := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		ts[name] = mustProvision(t, p, name)
		addItems(t, p, ts[name].ID, 30)
	}
	ghost, err := p.sqlite.create(ctx, newID(), "ghost")
	if err != nil {
		t.Fatal(err)
	}
	if err := createFile(p.tenantPath(ghost.ID)); err != nil {
		t.Fatal(err)
	}
	if err := p.sqlite.setState(ctx, ts["erin"].ID, StateFailed, 1, "migration 2: no such table: items"); err != nil {
		t.Fatal(err)
	}
	p.Close() // checkpoint every WAL, so the damage below is what SQLite reads
	removeFiles(p.tenantPath(ts["bob"].ID))
	overwriteWithGarbage(t, p.tenantPath(ts["carol"].ID))
	corruptPage(t, p.tenantPath(ts["dave"].ID), "items")
	setUserVersion(t, p.tenantPath(ts["frank"].ID), 7)
	raw, _ := os.ReadFile(p.tenantPath(ts["alice"].ID))
	orphan := newID()
	if err := createFile(p.tenantPath(orphan)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p.tenantPath(orphan), raw, 0o600)
	os.MkdirAll(filepath.Join(p.dir, "tenants", "zz"), 0o700)
	os.WriteFile(filepath.Join(p.dir, "tenants", "zz", "readme.txt"), []byte("hi"), 0o600)
	return p.dir, []string{
		"missing " + ts["bob"].ID + " bob",
		"corrupt " + ts["carol"].ID + " carol",
		"corrupt " + ts["dave"].ID + " dave",
		"failed " + ts["erin"].ID + " erin",
		"too-new " + ts["frank"].ID + " frank",
		"provisioning " + ghost.ID + " ghost",
		"orphan " + orphan + " ",
		"stray  ",
	}
}

func TestCheckFindsEveryKindOfDamage(t *testing.T) {
	for _, quick := range []bool{false, true} {
		t.Run(map[bool]string{false: "integrity_check", true: "quick_check"}[quick], func(t *testing.T) {
			dir, want := damagedDir(t)
			r, err := Check(context.Background(), dir, CheckOptions{
				Quick: quick, SchemaVersion: 2, Jobs: 2, Now: func() time.Time { return time.Now().Add(time.Hour) }})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range r.Problems {
				got = append(got, string(p.Kind)+" "+p.TenantID+" "+p.Username)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			if r.OK() || r.Tenants != 7 || r.Files != 5 {
				t.Errorf("OK %v, %d tenants, %d files; want false, 7, 5", r.OK(), r.Tenants, r.Files)
			}
			var b strings.Builder
			r.WriteTo(&b)
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			for i, p := range r.Problems {
				if !strings.Contains(lines[i], p.TenantID) || !strings.Contains(lines[i], p.Username) {
					t.Errorf("line %q does not name %s (%s)", lines[i], p.TenantID, p.Username)
				}
			}
			if last := lines[len(lines)-1]; !strings.HasSuffix(last, "8 problem(s)") {
				t.Errorf("summary %q", last)
			}
		})
	}
}

func TestCheckHealthyDirBesideLiveServerIsOK(t *testing.T) {
	p := newTestPool(t, Config{})
	ts := provisionN(t, p, 4)
	for _, tn := range ts {
		addItems(t, p, tn.ID, 10)
	}
	_, release, err := p.Acquire(context.Background(), ts[0].ID) // a request in flight
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	stop, wrote := make(chan struct{}), make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() { writePairs(t, p, ts, stop, wrote) })
	r, err := Check(context.Background(), p.dir, CheckOptions{SchemaVersion: 2, Jobs: 2})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.WriteTo(&b)
	if !r.OK() || len(r.Notes) != 0 || r.Tenants != 4 || r.Files != 4 {
		t.Fatalf("report:\n%s", b.String())
	}
	if !strings.HasSuffix(b.String(), "4 tenant(s), 4 file(s): ok\n") {
		t.Errorf("report %q", b.String())
	}
}

func TestCheckNotesSignupInProgressAndKeptOrphans(t *testing.T) {
	p := newTestPool(t, Config{})
	mustProvision(t, p, "alice")
	fresh, err := p.sqlite.create(context.Background(), newID(), "newcomer")
	if err != nil {
		t.Fatal(err)
	}
	if err := createFile(p.tenantPath(fresh.ID)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p.dir, "orphans", newID()+".db"), []byte("old"), 0o600)
	r, err := Check(context.Background(), p.dir, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Notes) != 2 {
		t.Errorf("OK %v, problems %v, notes %v; want OK with two notes", r.OK(), r.Problems, r.Notes)
	}
}

func TestCheckWithoutAReadableRoutingDBFails(t *testing.T) {
	for _, tc := range []struct {
		name        string
		routing     []byte // nil: no routing.db
		wantErr     string
		wantProblem bool
	}{
		{"missing", nil, "no routing.db", false},
		{"garbage", []byte(strings.Repeat("not a database ", 512)), "not a database", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.routing != nil {
				os.WriteFile(filepath.Join(dir, RoutingFile), tc.routing, 0o600)
			}
			before := filesUnder(t, dir, "")
			r, err := Check(context.Background(), dir, CheckOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v; want %q", err, tc.wantErr)
			}
			if got := !r.OK() && r.Problems[0].Kind == ProblemRouting; got != tc.wantProblem {
				t.Errorf("problems %v; want a routing problem: %v", r.Problems, tc.wantProblem)
			}
			if after := filesUnder(t, dir, ""); !slices.Equal(before, after) {
				t.Errorf("check changed the folder: %v -> %v", before, after)
			}
		})
	}
}
