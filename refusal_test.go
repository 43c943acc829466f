package main

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/tenant"
)

// listing names everything below dir, folders with a trailing slash, or
// says that dir is missing.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return []string{"(missing)"}
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// routingOnly is a data directory holding a routing.db with its session
// table and nothing else, as a restore or an older cubby may leave one.
func routingOnly(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	d, err := tenant.OpenDirectory(context.Background(), filepath.Join(dir, tenant.RoutingFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.CreateSessionTable(context.Background(), d.DB()); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// withFile is a folder holding one file, name, with text in it.
func withFile(t *testing.T, name, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A refused command leaves the data directory exactly as it was: no lock
// file, folder or routing.db it made before finding it had to refuse.
func TestRefusedCommandsLeaveTheDataDirectoryAsItWas(t *testing.T) {
	bak := backupOf(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	missing := func(t *testing.T) string { return filepath.Join(t.TempDir(), "data") }
	for _, c := range []struct {
		name string
		dir  func(t *testing.T) string
		args []string
	}{
		{"restore into a folder that is not empty", func(t *testing.T) string { return withFile(t, "keep.txt", "mine") },
			[]string{"restore", "--from", bak}},
		{"restore of something that is not a backup", func(t *testing.T) string { return t.TempDir() },
			[]string{"restore", "--from", t.TempDir()}},
		{"delete-user of nobody", routingOnly, []string{"delete-user", "nobody"}},
		{"migrate a damaged routing.db", func(t *testing.T) string { return withFile(t, "routing.db", "not a database") },
			[]string{"migrate"}},
		{"serve a damaged routing.db", func(t *testing.T) string { return withFile(t, "routing.db", "not a database") },
			[]string{"serve", "--addr", "127.0.0.1:0"}},
		{"serve more handles than descriptors", missing, []string{"serve", "--addr", "127.0.0.1:0", "--max-open", "100000000"}},
		{"serve on an address in use", missing, []string{"serve", "--addr", busy.Addr().String()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := c.dir(t)
			before := listing(t, dir)
			code, _, stderr := runCubby(t, context.Background(), append(c.args, "--data", dir)...)
			if code != exitFailure {
				t.Fatalf("exit %d; want %d (stderr %q)", code, exitFailure, stderr)
			}
			if after := listing(t, dir); !slices.Equal(before, after) {
				t.Fatalf("the refused run changed %s:\nbefore %q\nafter  %q\n(stderr %q)", dir, before, after, stderr)
			}
		})
	}
}
