package main

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cubbyhq/cubby/tenant"
)

func TestBackupRestoredAndServedAnswersAsBefore(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	alice := &apiClient{t: t, app: a.app}
	alice.want(http.StatusCreated, "POST", "/api/v1/signup", `{"username":"alice","password":"`+testPassword+`"}`)
	alice.want(http.StatusCreated, "POST", "/api/v1/notes", `{"title":"groceries","body":"eggs and milk"}`)
	alice.want(http.StatusCreated, "POST", "/api/v1/notes", `{"title":"plans","body":"a trip to Lisbon"}`)
	bob := &apiClient{t: t, app: a.app}
	bob.want(http.StatusCreated, "POST", "/api/v1/signup", `{"username":"bob","password":"`+testPassword+`"}`)
	bob.want(http.StatusCreated, "POST", "/api/v1/notes", `{"title":"bob's"}`)
	paths := []string{"/api/v1/notes", "/api/v1/notes?q=lisbon", "/api/v1/notes/1"}
	before := map[string]string{}
	for _, p := range paths {
		before[p] = alice.want(http.StatusOK, "GET", p, "")
	}
	bobsNotes := bob.want(http.StatusOK, "GET", "/api/v1/notes", "")

	// The server is live (its pool open, the lock held) while backup runs.
	out := filepath.Join(t.TempDir(), "backup")
	wantRun(t, exitOK, []string{"backed up routing.db and 2 tenant(s)", "backup: 2/2"}, "backup", "--data", dir, "--out", out)
	alice.want(http.StatusCreated, "POST", "/api/v1/notes", `{"title":"written after the backup"}`)
	a.close()
	if _, err := tenant.ReadManifest(out); err != nil {
		t.Fatalf("manifest: %v", err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	wantRun(t, exitOK, []string{"restored routing.db and 2 tenant(s) from " + out + " into " + restored},
		"restore", "--from", out, "--data", restored)
	wantRun(t, exitOK, []string{": ok"}, "check", "--data", restored)

	b := openTestApp(t, restored)
	alice.app = b.app // the same session cookie, now against the restored data
	for _, p := range paths {
		if got := alice.want(http.StatusOK, "GET", p, ""); got != before[p] {
			t.Errorf("GET %s after restore:\n%s\nwant\n%s", p, got, before[p])
		}
	}
	bobAgain := &apiClient{t: t, app: b.app}
	bobAgain.want(http.StatusOK, "POST", "/api/v1/login", `{"username":"bob","password":"`+testPassword+`"}`)
	if got := bobAgain.want(http.StatusOK, "GET", "/api/v1/notes", ""); got != bobsNotes {
		t.Errorf("bob's notes after restore:\n%s\nwant\n%s", got, bobsNotes)
	}
}

func TestBackupRefusesANonEmptyOut(t *testing.T) {
	dir := t.TempDir()
	openTestApp(t, dir).signup("alice")
	out := t.TempDir()
	keep := filepath.Join(out, "keep.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantRun(t, exitFailure, []string{"backup folder " + out + " holds keep.txt"}, "backup", "--data", dir, "--out", out)
	ents, _ := os.ReadDir(out)
	if len(ents) != 1 {
		t.Errorf("out holds %d entries after a refused backup; want only keep.txt", len(ents))
	}
}

// backupOf makes a data directory with one user and returns a backup of it.
func backupOf(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	a := openTestApp(t, dir)
	a.signup("alice")
	a.close()
	out := filepath.Join(t.TempDir(), "backup")
	wantRun(t, exitOK, nil, "backup", "--data", dir, "--out", out)
	return out
}

func TestRestoreRefusesANonEmptyTarget(t *testing.T) {
	bak := backupOf(t)
	target := t.TempDir()
	if err := os.WriteFile(filepath.Join(target, "routing.db"), []byte("someone's data"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantRun(t, exitFailure, []string{"data folder " + target + " holds routing.db"}, "restore", "--from", bak, "--data", target)
	got, err := os.ReadFile(filepath.Join(target, "routing.db"))
	if err != nil || string(got) != "someone's data" {
		t.Errorf("target's routing.db is now %q, %v", got, err)
	}
}

func TestRestoreOfADamagedBackupLeavesNothing(t *testing.T) {
	bak := backupOf(t)
	m, err := tenant.ReadManifest(bak)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(bak, filepath.FromSlash(m.Tenants[0].Path)), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("rot"), 200); err != nil {
		t.Fatal(err)
	}
	f.Close()
	target := filepath.Join(t.TempDir(), "data")
	wantRun(t, exitFailure, []string{"does not match the manifest"}, "restore", "--from", bak, "--data", target)
	if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed restore left its target behind: %v", err)
	}
	wantRun(t, exitFailure, []string{"make data directory"}, "restore", "--from", bak, "--data", filepath.Join(target, "deeper"))
}
