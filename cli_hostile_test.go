package main

// Tests of a careless operator at the command line: each pins a bug found
// by calling cubby as one should not, and what it must do instead.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cubbyhq/cubby/tenant"
)

// A backup whose --out reaches the data directory through a symbolic link
// is refused like one named inside it, and writes nothing there. (It was
// written into the live data directory, which check then found full of
// strays.)
func TestBackupThroughASymlinkIntoTheDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	a.signup("alice")
	a.close()
	outside := t.TempDir()
	link := filepath.Join(outside, "link")
	if err := os.Symlink(filepath.Join(dir, "tenants"), link); err != nil {
		t.Fatal(err)
	}
	dataLink := filepath.Join(outside, "data-link")
	if err := os.Symlink(dir, dataLink); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ data, out string }{
		{dir, filepath.Join(link, "new")},                   // a link to a folder inside
		{dir, link + "/../backup"},                          // .. from a link inside: the data folder itself
		{dir, filepath.Join(link, "a", "b")},                // missing folders below the link
		{dataLink, filepath.Join(dir, "tenants", "backup")}, // --data is the link, --out the real path
	} {
		before := listing(t, dir)
		wantRun(t, exitFailure, []string{"inside the data folder"}, "backup", "--data", c.data, "--out", c.out)
		if after := listing(t, dir); !slices.Equal(before, after) {
			t.Fatalf("backup --out %s changed %s:\nbefore %q\nafter  %q", c.out, dir, before, after)
		}
	}
	// Relative paths and a relative link, from the folder holding both.
	rel := filepath.Join(outside, "rel")
	if err := os.Symlink(filepath.Join("..", filepath.Base(dir), "tenants"), rel); err != nil {
		t.Fatal(err)
	}
	t.Chdir(outside)
	before := listing(t, dir)
	wantRun(t, exitFailure, []string{"inside the data folder"},
		"backup", "--data", filepath.Join("..", filepath.Base(dir)), "--out", "rel/new")
	if after := listing(t, dir); !slices.Equal(before, after) {
		t.Fatalf("backup --out rel/new changed %s:\nbefore %q\nafter  %q", dir, before, after)
	}
	// A link that leads elsewhere is fine.
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(outside, "ok")); err != nil {
		t.Fatal(err)
	}
	wantRun(t, exitOK, nil, "backup", "--data", dataLink, "--out", filepath.Join(outside, "ok", "b"))
	if _, err := os.Stat(filepath.Join(elsewhere, "b", tenant.ManifestName)); err != nil {
		t.Fatal(err)
	}
}

// TestHostileHelperMain is not a test: run as a child process with
// CUBBY_HOSTILE_MAIN set, it is cubby's main with the arguments in
// CUBBY_HOSTILE_ARGS (one a line), so that a test can see what the real
// process does with its signals and file descriptors.
func TestHostileHelperMain(t *testing.T) {
	if os.Getenv("CUBBY_HOSTILE_MAIN") != "1" {
		return
	}
	os.Args = append([]string{"cubby"}, strings.Split(os.Getenv("CUBBY_HOSTILE_ARGS"), "\n")...)
	main()
}

// runCubbyWithClosedStderr runs cubby as a process whose stderr is a pipe
// no one reads any more (`cubby restore … 2>&1 | head -1` once head has
// exited) and returns its exit code (-1 when a signal ended it) and stdout.
func runCubbyWithClosedStderr(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileHelperMain$")
	cmd.Env = append(os.Environ(), "CUBBY_HOSTILE_MAIN=1", "CUBBY_HOSTILE_ARGS="+strings.Join(args, "\n"))
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, w
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if ee != nil {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Logf("%v: killed by %v", args, ws.Signal())
		}
	}
	return cmd.ProcessState.ExitCode(), stdout.String()
}

// A backup or restore whose stderr (the progress lines) goes to a closed
// pipe finishes its work: it was killed by SIGPIPE at the first progress
// line, leaving a backup without a manifest, or a restore's data
// directory made and never removed.
func TestBackupAndRestoreFinishWhenStderrIsAClosedPipe(t *testing.T) {
	bak := backupOf(t)
	target := filepath.Join(t.TempDir(), "data")
	code, out := runCubbyWithClosedStderr(t, "restore", "--from", bak, "--data", target)
	if code != exitOK || !strings.Contains(out, "restored routing.db and 1 tenant(s)") {
		t.Fatalf("restore: exit %d, stdout %q; want 0 and a finished restore", code, out)
	}
	wantRun(t, exitOK, []string{"ok"}, "check", "--data", target)

	out2 := filepath.Join(t.TempDir(), "backup")
	code, out = runCubbyWithClosedStderr(t, "backup", "--data", target, "--out", out2)
	if code != exitOK || !strings.Contains(out, "backed up routing.db and 1 tenant(s)") {
		t.Fatalf("backup: exit %d, stdout %q; want 0 and a finished backup", code, out)
	}
	if _, err := tenant.ReadManifest(out2); err != nil {
		t.Fatal(err)
	}
}

// A backup made by a newer cubby (its manifest, or a tenant in it, at a
// schema this binary does not know) is refused before the data directory
// is made: restored, its users were unavailable until cubby was upgraded.
func TestRestoreRefusesABackupFromANewerSchema(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	newer := len(ms) + 1
	for name, edit := range map[string]func(m map[string]any){
		"manifest": func(m map[string]any) { m["schema_version"] = newer },
		"tenant":   func(m map[string]any) { m["tenants"].([]any)[0].(map[string]any)["schema_version"] = newer },
	} {
		t.Run(name, func(t *testing.T) {
			bak := backupOf(t)
			path := filepath.Join(bak, tenant.ManifestName)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			if raw, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), "data")
			wantRun(t, exitFailure, []string{"upgrade cubby"}, "restore", "--from", bak, "--data", target)
			if got := listing(t, target); !slices.Equal(got, []string{"(missing)"}) {
				t.Fatalf("the refused restore left %q", got)
			}
		})
	}
}

// A healthcheck --addr that is not HOST:PORT (a URL's path or query after
// the port) is bad usage, exit 2; it asked /readyz/readyz and called the
// server not ready.
func TestHealthcheckRefusesAnAddressWithAPath(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:1/readyz", "127.0.0.1:1?x=1", "127.0.0.1:0", "127.0.0.1:70000"} {
		wantRun(t, exitUsage, []string{"--addr", "usage: cubby healthcheck"}, "healthcheck", "--addr", addr)
	}
}
