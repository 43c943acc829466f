package main

// More tests of a careless operator at the command line (see
// cli_hostile_test.go): each pins a bug found by calling cubby as one
// should not, and what it must do instead.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// delete-user with an empty or blank NAME is bad usage, exit 2, for the
// cluster variant too (it said "no user", exit 1, as if such a user might
// have been there); and a name is quoted wherever it is echoed, so that one
// with spaces or control characters reads unambiguously.
func TestDeleteUserRefusesABlankNameAndQuotesNames(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	a.signup("alice")
	a.close()
	before := listing(t, dir)
	for _, name := range []string{"", " ", "\t\n"} {
		wantRun(t, exitUsage, []string{"NAME", "usage: cubby delete-user"}, "delete-user", "--data", dir, name)
		wantRun(t, exitUsage, []string{"NAME", "usage: cubby delete-user"},
			"delete-user", "--cluster", "etcd://127.0.0.1:1", "--replicate-to", "s3://bucket/prefix", name)
	}
	if after := listing(t, dir); !slices.Equal(before, after) {
		t.Fatalf("a refused delete-user changed %s:\nbefore %q\nafter  %q", dir, before, after)
	}
	wantRun(t, exitFailure, []string{`cubby delete-user: no user "no one"`}, "delete-user", "--data", dir, "no one")
	wantRun(t, exitFailure, []string{`no user "al\nice"`}, "delete-user", "--data", dir, "al\nice")
	wantRun(t, exitOK, []string{`deleted user "alice" (tenant `}, "delete-user", "--data", dir, "alice")
}

// A serve --addr or --metrics-addr that cannot be listened on for its
// port (out of range, not a number or service name, missing) is bad usage,
// exit 2, naming the flag, and refused before the data directory is made.
// (It failed in net.Listen, exit 1.) Port 0, any free port, stays allowed.
func TestServeRefusesAnAddressWithABadPort(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, c := range []struct{ flag, addr string }{
		{"--addr", ":99999"},
		{"--addr", "127.0.0.1:-1"},
		{"--addr", "127.0.0.1:nope"},
		{"--addr", "127.0.0.1"},
		{"--addr", "127.0.0.1:"},
		{"--metrics-addr", ":99999"},
		{"--metrics-addr", "127.0.0.1:nope"},
		{"--metrics-addr", "127.0.0.1"},
		{"--metrics-addr", "127.0.0.1:"},
	} {
		args := []string{"serve", "--data", data, "--addr", "127.0.0.1:0", c.flag, c.addr}
		_, errOut := wantRun(t, exitUsage, []string{"usage: cubby serve"}, args...)
		if first, _, _ := strings.Cut(errOut, "\n"); !strings.HasPrefix(first, "cubby serve: "+c.flag+" ") {
			t.Errorf("%v: the refusal does not name %s first: %q", args, c.flag, first)
		}
		if got := listing(t, data); !slices.Equal(got, []string{"(missing)"}) {
			t.Fatalf("%v: the refused serve left %q", args, got)
		}
	}
	wantRun(t, exitUsage, []string{"cubby demo: --addr", "usage: cubby demo"}, "demo", "--addr", ":99999")
}

// restore refuses, before it writes anything, a --data that is the backup
// folder or lies inside it, named as it is or through a symbolic link (the
// restore was written into the backup it read), and a backup folder inside
// --data, which the restore would write over.
func TestRestoreRefusesADataDirOverlappingTheBackup(t *testing.T) {
	bak := backupOf(t)
	outside := t.TempDir()
	link := filepath.Join(outside, "link")
	if err := os.Symlink(bak, link); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{
		filepath.Join(bak, "new"),
		filepath.Join(bak, "tenants", "new"),
		bak,
		filepath.Join(link, "new"),
		link,
		filepath.Join(link, "tenants") + "/../new", // .. from a folder inside: still inside
	} {
		before := listing(t, bak)
		wantRun(t, exitFailure, []string{"lies inside the backup folder"}, "restore", "--from", bak, "--data", data)
		if after := listing(t, bak); !slices.Equal(before, after) {
			t.Fatalf("restore --data %s changed the backup:\nbefore %q\nafter  %q", data, before, after)
		}
	}

	// The reverse: the backup inside the data directory, as written and
	// through a link.
	data := t.TempDir()
	inner := filepath.Join(data, "tmp", "backup")
	if err := os.MkdirAll(filepath.Dir(inner), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bak, inner); err != nil {
		t.Fatal(err)
	}
	innerLink := filepath.Join(outside, "inner")
	if err := os.Symlink(inner, innerLink); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{inner, innerLink} {
		before := listing(t, data)
		wantRun(t, exitFailure, []string{"lies inside the data directory"}, "restore", "--from", from, "--data", data)
		if after := listing(t, data); !slices.Equal(before, after) {
			t.Fatalf("restore --from %s changed %s:\nbefore %q\nafter  %q", from, data, before, after)
		}
	}

	// A link that leads elsewhere is fine.
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(outside, "ok")); err != nil {
		t.Fatal(err)
	}
	wantRun(t, exitOK, []string{"restored routing.db and 1 tenant(s)"},
		"restore", "--from", innerLink, "--data", filepath.Join(outside, "ok", "data"))
}

// users shows a name that would not read unambiguously in its table (a
// hand-edited routing.db: signup admits no such name) quoted, so that it
// cannot split or forge a row; ordinary names stay bare.
func TestUsersQuotesANameThatWouldSplitItsRow(t *testing.T) {
	dir := t.TempDir()
	a := openTestApp(t, dir)
	a.signup("alice")
	a.signup("bob")
	a.close()
	sqlExec(t, filepath.Join(dir, "routing.db"),
		`UPDATE tenants SET username = 'bob' || char(10) || 'ffffffffffffffffffffffffffffffff  active' WHERE username = 'bob'`)
	out, _ := wantRun(t, exitOK, []string{` alice` + "\n", `"bob\nffffffffffffffffffffffffffffffff  active"`}, "users", "--data", dir)
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 3 {
		t.Fatalf("users printed %d lines for 2 users:\n%s", len(lines), out)
	}
}
