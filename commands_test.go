package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/auth/authtest"
	"github.com/cubbyhq/cubby/datadir"
	"github.com/cubbyhq/cubby/router"
	"github.com/cubbyhq/cubby/tenant"
)

const testPassword = "correct horse battery"

// testApp is the app over a data directory, opened and wired as serve
// does (the lock held, so it stands for a live server) but with cheap
// password hashing.
type testApp struct {
	t      *testing.T
	d      *datadir.DataDir
	app    *router.App
	closed bool
}

func openTestApp(t *testing.T, dir string) *testApp {
	t.Helper()
	return openTestAppWith(t, dir, datadir.Options{})
}

// openTestAppWith is openTestApp with o's signup rules.
func openTestAppWith(t *testing.T, dir string, o datadir.Options) *testApp {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	o.Migrations, o.Create = ms, true
	o.Logger = log
	o.Sessions = auth.SessionStoreConfig{CleanupInterval: -1}
	o.Hasher = auth.NewHasher(authtest.Params(), 0)
	d, err := datadir.Open(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	a := &testApp{t: t, d: d}
	t.Cleanup(a.close)
	a.app, err = router.New(router.Config{
		Pool: d.Pool(), Accounts: d.Accounts(), SessionStore: d.Sessions(), DeviceKey: d.DeviceKey(), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// close shuts the app down as serve does at exit; it is safe to call twice.
func (a *testApp) close() {
	if !a.closed {
		a.closed = true
		if err := a.d.Close(); err != nil {
			a.t.Error(err)
		}
	}
}

// signup makes an account without a session.
func (a *testApp) signup(name string) tenant.Tenant {
	a.t.Helper()
	tn, err := a.d.Accounts().Signup(context.Background(), name, testPassword, "192.0.2.1")
	if err != nil {
		a.t.Fatalf("signup %s: %v", name, err)
	}
	return tn
}

// apiClient talks to an app's JSON API and keeps its session cookie, as a
// browser would. Pointing it at another app keeps the cookie.
type apiClient struct {
	t      *testing.T
	app    http.Handler
	cookie *http.Cookie
}

func (c *apiClient) do(method, path, body string) *httptest.ResponseRecorder {
	c.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	rec := httptest.NewRecorder()
	c.app.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == auth.SessionCookie {
			c.cookie = ck
		}
	}
	return rec
}

// want sends a request and fails the test unless the status is status.
func (c *apiClient) want(status int, method, path, body string) string {
	c.t.Helper()
	rec := c.do(method, path, body)
	if rec.Code != status {
		c.t.Fatalf("%s %s: %d %s; want %d", method, path, rec.Code, rec.Body, status)
	}
	return rec.Body.String()
}

func tenantPath(dir, id string) string {
	return filepath.Join(dir, "tenants", id[:2], id+".db")
}

// sqlExec runs statements on a database file outside any pool.
func sqlExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// sqlCount runs a count query on a database file.
func sqlCount(t *testing.T, path, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// wantRun runs cubby and fails the test unless it exits with code and
// every string of wants is in its stdout or stderr.
func wantRun(t *testing.T, code int, wants []string, args ...string) (string, string) {
	t.Helper()
	got, out, errOut := runCubby(t, context.Background(), args...)
	if got != code {
		t.Fatalf("%v: exit %d; want %d\nstdout: %s\nstderr: %s", args, got, code, out, errOut)
	}
	for _, w := range wants {
		if !strings.Contains(out+errOut, w) {
			t.Fatalf("%v: output lacks %q\nstdout: %s\nstderr: %s", args, w, out, errOut)
		}
	}
	return out, errOut
}

func TestEveryCommandHasHelpListingItsFlags(t *testing.T) {
	flags := map[string][]string{
		"serve":       {"-data", "-addr", "-max-open"},
		"migrate":     {"-data", "-jobs"},
		"users":       {"-data", "-json"},
		"delete-user": {"-data", "NAME"},
		"backup":      {"-data", "-out", "-jobs"},
		"restore":     {"-data", "-from"},
		"check":       {"-data", "-quick", "-jobs"},
	}
	_, top, _ := runCubby(t, context.Background(), "--help")
	for _, c := range commands() {
		if !strings.Contains(top, c.name) {
			t.Errorf("cubby --help does not list %s", c.name)
		}
		// Commands this test does not know still need a working --help.
		wantRun(t, exitOK, append(flags[c.name], "usage: cubby "+c.name), c.name, "--help")
	}
}

func TestCommandsRefuseBadUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"migrate", "--bogus"}, {"migrate", "extra"}, {"migrate", "--jobs", "0"},
		{"users", "--bogus"}, {"users", "--data", dir, "extra"},
		{"delete-user", "--data", dir}, {"delete-user", "--data", dir, "a", "b"}, {"delete-user", "--bogus", "a"},
		{"backup", "--data", dir}, {"backup", "--out", "x", "extra"}, {"backup", "--out", "x", "--jobs", "-1"},
		{"restore", "--data", dir}, {"restore", "--from", "x", "extra"}, {"restore", "--bogus"},
		{"check", "--bogus"}, {"check", "--jobs", "0"}, {"check", "--quick=maybe"},
	} {
		code, _, errOut := runCubby(t, context.Background(), args...)
		if code != exitUsage || !strings.Contains(errOut, "usage: cubby "+args[0]) {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestCommandsOtherThanServeRefuseAMissingDataDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	empty := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	for _, args := range [][]string{
		{"migrate"}, {"users"}, {"delete-user", "alice"}, {"backup", "--out", out}, {"check"},
	} {
		wantRun(t, exitFailure, []string{"data directory " + missing + " does not exist"},
			append(args, "--data", missing)...)
		wantRun(t, exitFailure, []string{empty + " holds no routing.db"}, append(args, "--data", empty)...)
	}
	for _, p := range []string{missing, out, filepath.Join(empty, "routing.db"), filepath.Join(empty, ".lock")} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was made: %v", p, err)
		}
	}
}

func TestMigrateGoesOnPastAFailingTenantAndListsIt(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	a.signup("alice")
	bob := a.signup("bob")
	carol := a.signup("carol")
	a.close()
	// bob's file claims to have no migrations, so migration 1 runs again
	// and fails; carol's is empty, as if made before the schema existed.
	sqlExec(t, tenantPath(dir, bob.ID), "PRAGMA user_version = 0")
	if err := os.WriteFile(tenantPath(dir, carol.ID), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	out, _ := wantRun(t, exitFailure, []string{
		"1 tenant(s) migrated, 1 already current, 1 failed",
		"failed: bob (tenant " + bob.ID, "table account already exists",
		"1 of 3 tenant(s) failed to migrate",
	}, "migrate", "--data", dir, "--jobs", "2")
	if strings.Contains(out, "failed: alice") || strings.Contains(out, "failed: carol") {
		t.Errorf("healthy tenants listed as failed:\n%s", out)
	}
	wantRun(t, exitFailure, []string{"0 tenant(s) migrated, 2 already current, 1 failed", "failed: bob"},
		"migrate", "--data", dir)
	if n := sqlCount(t, tenantPath(dir, carol.ID), "SELECT count(*) FROM notes"); n != 0 {
		t.Errorf("carol's migrated file has %d notes", n)
	}
	want := map[string]string{"alice": "active", "bob": "failed", "carol": "active"}
	users, _ := wantRun(t, exitOK, nil, "users", "--data", dir)
	for name, state := range want {
		if !strings.Contains(users, state+" ") || !rowHas(users, name, state) {
			t.Errorf("users shows %s not %s:\n%s", name, state, users)
		}
	}
}

// rowHas reports whether the users table has a row for name with state.
func rowHas(table, name, state string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[len(f)-1] == name && f[1] == state {
			return true
		}
	}
	return false
}

func TestMigrateRerunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	ids := []string{a.signup("alice").ID, a.signup("bob").ID}
	a.close()
	wantRun(t, exitOK, []string{fmt.Sprintf("schema version %d: 0 tenant(s) migrated, 2 already current, 0 failed", schemaVersion(t)), "migrate: 2/2"},
		"migrate", "--data", dir)

	files := []string{filepath.Join(dir, "routing.db")}
	for _, id := range ids {
		files = append(files, tenantPath(dir, id))
	}
	before := statAll(t, files)
	wantRun(t, exitOK, []string{"0 tenant(s) migrated, 2 already current"}, "migrate", "--data", dir)
	after := statAll(t, files)
	for i, f := range files {
		if before[i] != after[i] {
			t.Errorf("%s changed on a no-op migrate: %s → %s", f, before[i], after[i])
		}
	}
}

// statAll describes each file by its size and modification time.
func statAll(t *testing.T, files []string) []string {
	t.Helper()
	var out []string
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%v %v %d", fi.ModTime(), fi.Mode(), fi.Size()))
	}
	return out
}

func TestDeleteUserIsLikeDeletingTheAccountInTheApp(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	alice := &apiClient{t: t, app: a.app}
	alice.want(http.StatusCreated, "POST", "/api/v1/signup", `{"username":"alice","password":"`+testPassword+`"}`)
	alice.want(http.StatusCreated, "POST", "/api/v1/notes", `{"title":"secret"}`)
	a.signup("bob")
	tn, err := a.d.Routing().Lookup(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	a.close()
	routing := filepath.Join(dir, "routing.db")
	if n := sqlCount(t, routing, "SELECT count(*) FROM auth_sessions"); n != 1 {
		t.Fatalf("%d sessions before delete; want alice's one", n)
	}

	wantRun(t, exitOK, []string{`deleted user "alice" (tenant ` + tn.ID}, "delete-user", "--data", dir, "ALICE")
	if _, err := os.Stat(tenantPath(dir, tn.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("alice's file is still there: %v", err)
	}
	if n := sqlCount(t, routing, "SELECT count(*) FROM auth_sessions"); n != 0 {
		t.Errorf("%d sessions left after delete", n)
	}
	out, _ := wantRun(t, exitOK, []string{"bob"}, "users", "--data", dir)
	if strings.Contains(out, "alice") {
		t.Errorf("users still lists alice:\n%s", out)
	}
	wantRun(t, exitFailure, []string{`cubby delete-user: no user "alice"`}, "delete-user", "alice", "--data", dir)

	b := openTestApp(t, dir)
	alice.app = b.app
	alice.want(http.StatusUnauthorized, "GET", "/api/v1/me", "")
	again := &apiClient{t: t, app: b.app}
	again.want(http.StatusCreated, "POST", "/api/v1/signup", `{"username":"alice","password":"`+testPassword+`"}`)
	if body := again.want(http.StatusOK, "GET", "/api/v1/notes", ""); strings.Contains(body, "secret") {
		t.Errorf("the new alice sees the old one's notes: %s", body)
	}
}

func TestCheckReportsHealthyAndDamagedDirectories(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	alice := a.signup("alice")
	bob := a.signup("bob")
	// Beside a live app.
	wantRun(t, exitOK, []string{"checked routing.db, 2 tenant(s), 2 file(s): ok"}, "check", "--data", dir)
	wantRun(t, exitOK, []string{": ok"}, "check", "--data", dir, "--quick")
	a.close()

	garbage := []byte(strings.Repeat("not a database ", 10))
	f, err := os.OpenFile(tenantPath(dir, bob.ID), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(garbage, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Remove(tenantPath(dir, alice.ID)); err != nil {
		t.Fatal(err)
	}
	out, _ := wantRun(t, exitFailure, []string{"2 problem(s) found in " + dir}, "check", "--data", dir)
	for _, want := range []string{bob.ID, "bob", alice.ID, "alice", "2 problem(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestWritersAreRefusedWhileTheLockIsHeldAndReadersRun(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir) // a live server: open pool, held lock
	a.signup("alice")
	held := "another cubby process (serve, migrate, delete-user or restore) is using "
	bak := filepath.Join(t.TempDir(), "bak")

	wantRun(t, exitOK, []string{"alice"}, "users", "--data", dir)
	wantRun(t, exitOK, []string{": ok"}, "check", "--data", dir)
	wantRun(t, exitOK, []string{"1 tenant(s)"}, "backup", "--data", dir, "--out", bak)
	wantRun(t, exitFailure, []string{held + dir}, "migrate", "--data", dir)
	wantRun(t, exitFailure, []string{held + dir}, "delete-user", "--data", dir, "alice")

	target := t.TempDir()
	lock, err := datadir.TakeLock(target)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	wantRun(t, exitFailure, []string{held + target}, "restore", "--from", bak, "--data", target)
	if _, err := os.Stat(filepath.Join(target, "routing.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("restore wrote into a locked directory: %v", err)
	}
	if _, err := a.d.Routing().Lookup(context.Background(), "alice"); err != nil {
		t.Errorf("alice after the refused delete: %v", err)
	}
}
