package router

import (
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
)

func TestExportIsValidSQLiteWithoutPasswordHash(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	c.createNote("first", "body one")
	c.createNote("second", "body two")

	rec := c.do("GET", "/api/v1/export", nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/vnd.sqlite3" {
		t.Fatalf("export: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	disp, params, err := mime.ParseMediaType(rec.Header().Get("Content-Disposition"))
	if err != nil || disp != "attachment" || !strings.HasPrefix(params["filename"], "cubby-alice-") {
		t.Fatalf("Content-Disposition %q", rec.Header().Get("Content-Disposition"))
	}
	raw := rec.Body.Bytes()
	if !strings.HasPrefix(string(raw), "SQLite format 3\x00") {
		t.Fatal("not an SQLite file")
	}
	if strings.Contains(string(raw), "$argon2id$") {
		t.Fatal("the export holds a password hash")
	}
	path := filepath.Join(t.TempDir(), "export.sqlite")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlx.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var hash, name string
	if err := db.QueryRow("SELECT username, password_hash FROM account").Scan(&name, &hash); err != nil {
		t.Fatal(err)
	}
	var titles []string
	if err := db.Select(&titles, "SELECT title FROM notes ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	if name != "alice" || hash != "" || strings.Join(titles, ",") != "first,second" {
		t.Fatalf("export holds %q %q %v", name, hash, titles)
	}
	var ok string
	if err := db.Get(&ok, "PRAGMA integrity_check"); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	// The notes written since the last batch are in the copy's search
	// index: any SQLite reader finds them.
	var found int
	if err := db.Get(&found, "SELECT count(*) FROM notes_fts WHERE notes_fts MATCH 'body'"); err != nil || found != 2 {
		t.Fatalf("the export's search index finds %d notes, %v; want 2", found, err)
	}
	if left, _ := os.ReadDir(filepath.Join(r.dir, "tmp")); len(left) != 0 {
		t.Fatalf("export left %d files in tmp/", len(left))
	}
	if rec := c.do("GET", "/account/export", nil); rec.Code != http.StatusOK || rec.Body.Len() != len(raw) {
		t.Fatalf("HTML export: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestAccountDeletion(t *testing.T) {
	r := newRig(t, rigOptions{})
	phone, laptop := r.client(), r.client()
	phone.signup("alice", "correct horse")
	if rec := laptop.do("POST", "/api/v1/login", `{"username":"alice","password":"correct horse"}`); rec.Code != 200 {
		t.Fatalf("second login: %d", rec.Code)
	}
	phone.createNote("doomed", "")

	wantError(t, r.client().do("DELETE", "/api/v1/account", `{"password":"correct horse"}`), 401, "unauthenticated")
	wantError(t, phone.do("DELETE", "/api/v1/account", `{"password":"wrong horse"}`), 401, "invalid_credentials")
	wantError(t, phone.do("DELETE", "/api/v1/account", `{"Password":"correct horse"}`), 400, "bad_request")
	if rec := phone.do("GET", "/api/v1/notes", nil); rec.Code != http.StatusOK {
		t.Fatalf("a refused delete signed out: %d", rec.Code)
	}

	rec := phone.do("DELETE", "/api/v1/account", `{"password":"correct horse"}`)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if phone.cookie != nil {
		t.Fatal("the deleting session kept its cookie")
	}
	wantError(t, laptop.do("GET", "/api/v1/me", nil), 401, "unauthenticated")
	if files, _ := filepath.Glob(filepath.Join(r.dir, "tenants", "*", "*")); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
	if n, _ := r.pool.Directory().Count(t.Context()); n != 0 {
		t.Fatalf("%d routing rows left", n)
	}
	var sessions int
	err := r.pool.Directory().DB().QueryRow("SELECT count(*) FROM auth_sessions").Scan(&sessions)
	if err != nil || sessions != 0 {
		t.Fatalf("%d session rows left (%v)", sessions, err)
	}
	wantError(t, phone.do("POST", "/api/v1/login", `{"username":"alice","password":"correct horse"}`),
		401, "invalid_credentials")
	fresh := r.client()
	fresh.signup("alice", "a new password")
	if got := decode[notesJSON](t, fresh.do("GET", "/api/v1/notes", nil)); len(got.Notes) != 0 {
		t.Fatalf("the new alice sees %+v", got.Notes)
	}
}

func TestTenantFileMissingIs503(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("alice", "correct horse")
	tn, _ := r.pool.Directory().Lookup(t.Context(), "alice")
	if err := os.Remove(filepath.Join(r.dir, "tenants", tn.ID[:2], tn.ID+".db")); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.do("GET", "/api/v1/notes", nil), 503, "tenant_unavailable")
	wantError(t, r.client().do("POST", "/api/v1/login", `{"username":"alice","password":"correct horse"}`),
		503, "tenant_unavailable")
	if c.cookie == nil {
		t.Fatal("an unavailable tenant is not a dead session: the cookie must stay")
	}
	if rec := c.do("GET", "/notes", nil); rec.Code != 503 || !strings.Contains(rec.Body.String(), "<html") {
		t.Fatalf("HTML: %d %s", rec.Code, rec.Body)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "tenants", tn.ID[:2], tn.ID+".db")); !os.IsNotExist(err) {
		t.Fatal("the missing file was recreated")
	}
}
