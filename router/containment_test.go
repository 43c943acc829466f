package router

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/tenant"
	"github.com/cubbyhq/cubby/tenant/tenanttest"
)

// A broken tenant costs its own user a clear 503 and nobody else anything:
// the other users are served while the broken one is asked for again and
// again, and tenant.Check names the broken ones and only them.

// containmentUsers signs up users with two notes each and returns their
// clients, then closes r's data directory (checkpointing every WAL, and
// releasing the lock) so the files on disk are what a restarted server
// reads.
func containmentUsers(t *testing.T, r *rig, names ...string) map[string]*client {
	t.Helper()
	cs := map[string]*client{}
	for _, name := range names {
		c := r.client()
		c.signup(name, "password "+name)
		c.createNote(name+" one", "body of "+name)
		c.createNote(name+" two", "")
		cs[name] = c
	}
	if err := r.data.Close(); err != nil {
		t.Fatal(err)
	}
	return cs
}

// restartOn builds a new rig over r's data directory with migrations ms
// (nil: schema.sql) and moves the clients onto it; their sessions live in
// routing.db and carry over.
func restartOn(t *testing.T, r *rig, ms []tenant.Migration, cs map[string]*client) *rig {
	t.Helper()
	r2 := newRig(t, rigOptions{pool: tenant.Config{Dir: r.dir, Migrations: ms}})
	for _, c := range cs {
		c.r = r2
	}
	return r2
}

// tenantFilePath is the file of user name in r's data directory, open or
// closed: it reads routing.db as the commands beside a server do.
func tenantFilePath(t *testing.T, r *rig, name string) string {
	t.Helper()
	ro, err := datadir.OpenReadOnly(t.Context(), r.dir, datadir.Options{Migrations: tenanttest.Migrations(t, "../schema.sql")})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	d, err := ro.Routing(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tn, err := d.Lookup(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(r.dir, "tenants", tn.ID[:2], tn.ID+".db")
}

// corruptTable flips bytes in the b-tree header of table's root page, as a
// bad sector or a stray write would, and leaves the rest of the file be.
func corruptTable(t *testing.T, path, table string) {
	t.Helper()
	db, err := sqlx.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var root int64
	err = db.Get(&root, "SELECT rootpage FROM sqlite_schema WHERE name = ?", table)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := int64(binary.BigEndian.Uint16(raw[16:18]))
	for i := int64(3); i < 7; i++ { // cell count and cell content offset
		raw[(root-1)*page+i] ^= 0xff
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkHealthy hammers the healthy users with reads and writes, while the
// broken ones are asked for over and over, and checks every answer.
func checkHealthy(t *testing.T, cs map[string]*client, broken []string) {
	t.Helper()
	var wg sync.WaitGroup
	for name, c := range cs {
		wg.Go(func() {
			for i := range 10 {
				if slices.Contains(broken, name) {
					if rec := c.do("GET", "/api/v1/notes", nil); rec.Code != http.StatusServiceUnavailable {
						t.Errorf("%s (broken): %d %s", name, rec.Code, rec.Body)
					}
					continue
				}
				rec := c.do("POST", "/api/v1/notes", fmt.Sprintf(`{"title":"%s after %d"}`, name, i))
				if rec.Code != http.StatusCreated {
					t.Errorf("%s: create: %d %s", name, rec.Code, rec.Body)
				}
				rec = c.do("GET", "/api/v1/notes?q="+name, nil)
				if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `"id"`) != 3+i {
					t.Errorf("%s: search: %d %s", name, rec.Code, rec.Body)
				}
			}
		})
	}
	wg.Wait()
}

// wantCheckNames runs tenant.Check and wants problems of kind for exactly
// the users named.
func wantCheckNames(t *testing.T, dir string, kind tenant.ProblemKind, names ...string) {
	t.Helper()
	rep, err := tenant.Check(context.Background(), dir, tenant.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range rep.Problems {
		if p.Kind != kind || !strings.Contains(p.String(), p.Username) {
			t.Errorf("unexpected problem %s", p)
		}
		got = append(got, p.Username)
	}
	slices.Sort(got)
	if !slices.Equal(got, names) {
		t.Fatalf("Check named %v; want %v (report %+v)", got, names, rep)
	}
}

func TestCorruptTenantFileIsContained(t *testing.T) {
	r := newRig(t, rigOptions{})
	cs := containmentUsers(t, r, "alice", "bob", "carol", "dave")
	garbage := tenantFilePath(t, r, "bob")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database\n", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	corruptTable(t, tenantFilePath(t, r, "carol"), "notes")
	r2 := restartOn(t, r, nil, cs)

	for _, name := range []string{"bob", "carol"} {
		wantError(t, cs[name].do("GET", "/api/v1/notes", nil), 503, "tenant_unavailable")
		if rec := cs[name].do("GET", "/notes", nil); rec.Code != 503 || !strings.Contains(rec.Body.String(), "<html") {
			t.Errorf("%s HTML: %d", name, rec.Code)
		}
		if cs[name].cookie == nil {
			t.Errorf("%s: a broken file is not a dead session; the cookie must stay", name)
		}
	}
	wantError(t, r2.client().do("POST", "/api/v1/login", `{"username":"bob","password":"password bob"}`),
		503, "tenant_unavailable")
	checkHealthy(t, cs, []string{"bob", "carol"})
	if raw, _ := os.ReadFile(garbage); !strings.HasPrefix(string(raw), "not a database") {
		t.Fatal("the broken file was replaced")
	}
	wantCheckNames(t, r.dir, tenant.ProblemCorrupt, "bob", "carol")
}

func TestFailedMigrationIsContained(t *testing.T) {
	r := newRig(t, rigOptions{})
	cs := containmentUsers(t, r, "alice", "bob", "carol")
	// bob's file already has the column the next migration adds, so that
	// migration fails on it and on no other.
	db, err := sqlx.Open("sqlite", "file:"+tenantFilePath(t, r, "bob")+"?mode=rw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("ALTER TABLE notes ADD COLUMN pinned INTEGER"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	base := tenanttest.Migrations(t, "../schema.sql")
	ms := append(base, tenant.Migration{
		Version: len(base) + 1, SQL: "ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;",
	})
	r2 := restartOn(t, r, ms, cs)

	wantError(t, cs["bob"].do("GET", "/api/v1/notes", nil), 503, "tenant_unavailable")
	wantError(t, r2.client().do("POST", "/api/v1/login", `{"username":"bob","password":"password bob"}`),
		503, "tenant_unavailable")
	checkHealthy(t, cs, []string{"bob"})
	for name, want := range map[string]tenant.State{"alice": tenant.StateActive, "bob": tenant.StateFailed, "carol": tenant.StateActive} {
		tn, err := r2.pool.Directory().Lookup(t.Context(), name)
		if err != nil || tn.State != want || (want == tenant.StateActive) != (tn.SchemaVersion == len(ms)) {
			t.Errorf("%s: %+v, %v; want %s", name, tn, err, want)
		}
	}
	wantCheckNames(t, r.dir, tenant.ProblemFailed, "bob")
}

// TestFullStorageIsAClear503AndSavesNothing: a write that alice's file has
// no room for (here a page limit; a full disk is the same SQLITE_FULL)
// answers 503 storage_full with Retry-After, as a page and in the API, and
// saves nothing; bob keeps writing; once there is room, so does alice.
func TestFullStorageIsAClear503AndSavesNothing(t *testing.T) {
	r := newRig(t, rigOptions{})
	alice, bob := r.client(), r.client()
	alice.signup("alice", "password alice")
	bob.signup("bob", "password bob")
	alice.createNote("kept", "")
	tn, err := r.pool.Directory().Lookup(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	limit := func(pages string) {
		s, release, err := r.pool.Acquire(t.Context(), tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		// Writes run on the handle's own connection, where the limit holds.
		if _, err := s.ExecContext(t.Context(), "PRAGMA max_page_count = "+pages); err != nil {
			t.Fatal(err)
		}
	}
	limit("1") // no more pages than the file has now
	big := strings.Repeat("a long body that needs pages of its own ", 4096)
	rec := alice.do("POST", "/api/v1/notes", map[string]string{"title": "too big", "body": big})
	wantError(t, rec, http.StatusServiceUnavailable, "storage_full")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("storage_full without Retry-After")
	}
	page := alice.do("POST", "/notes", url.Values{"title": {"too big"}, "body": {big}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded")
	if page.Code != http.StatusServiceUnavailable || !strings.Contains(page.Body.String(), "out of storage space") {
		t.Errorf("form post on a full disk: %d %s", page.Code, page.Body)
	}
	if rec := bob.do("POST", "/api/v1/notes", map[string]string{"title": "bob writes", "body": big}); rec.Code != http.StatusCreated {
		t.Errorf("bob: %d %s", rec.Code, rec.Body)
	}
	list := alice.do("GET", "/api/v1/notes?q=big", nil)
	if list.Code != http.StatusOK || strings.Contains(list.Body.String(), "too big") {
		t.Errorf("the refused note was saved: %d %s", list.Code, list.Body)
	}
	limit("1000000000")
	if rec := alice.do("POST", "/api/v1/notes", map[string]string{"title": "room again", "body": big}); rec.Code != http.StatusCreated {
		t.Errorf("alice once there is room: %d %s", rec.Code, rec.Body)
	}
}
