package tenant

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestTenantSizeIsFilePlusWAL(t *testing.T) {
	p := newTestPool(t, Config{})
	alice := mustProvision(t, p, "alice")
	addItems(t, p, alice.ID, 50)
	s, release, err := p.Acquire(context.Background(), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := s.SizeBytes()
	release()
	for _, tc := range []struct {
		name, id string
		want     int64
		wantErr  error
	}{
		{"tenant", alice.ID, want, nil},
		{"not an id", "../routing", 0, ErrNotFound},
		{"no file", newID(), 0, fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TenantSize(p.dir, tc.id)
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("TenantSize = %d, %v; want %d, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestOpenDirectoryReadOnlyListsButNeverCreates(t *testing.T) {
	ctx := context.Background()
	p := newTestPool(t, Config{})
	mustProvision(t, p, "alice")
	d, err := OpenDirectoryReadOnly(ctx, filepath.Join(p.dir, RoutingFile))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if ts, err := d.List(ctx, "", 10); err != nil || len(ts) != 1 || ts[0].Username != "alice" {
		t.Errorf("List = %+v, %v", ts, err)
	}
	if _, err := d.create(ctx, newID(), "bob"); err == nil {
		t.Error("a read-only directory accepted a write")
	}

	empty := t.TempDir()
	if _, err := OpenDirectoryReadOnly(ctx, filepath.Join(empty, RoutingFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing routing.db: err = %v; want fs.ErrNotExist", err)
	}
	notRouting := filepath.Join(empty, "other.db")
	os.WriteFile(notRouting, nil, 0o600)
	if _, err := OpenDirectoryReadOnly(ctx, notRouting); err == nil {
		t.Error("an empty file opened as a routing db")
	}
	if files := filesUnder(t, empty, ""); len(files) != 1 {
		t.Errorf("files %v; want other.db only", files)
	}
}
