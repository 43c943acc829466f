package router

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// walBound is the most a tenant's -wal file may hold after a burst of small
// writes: SQLite's auto-checkpoint runs at 1,000 pages (4 MiB with 4 KiB
// pages) and journal_size_limit truncates the file back to 1 MiB after it.
const walBound = 5 << 20

// tenantFile is the database file of user name in r's data directory.
func (r *rig) tenantFile(name string) string {
	r.t.Helper()
	tn, err := r.pool.Directory().Lookup(context.Background(), name)
	if err != nil {
		r.t.Fatal(err)
	}
	return filepath.Join(r.dir, "tenants", tn.ID[:2], tn.ID+".db")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// Creates and updates answer with the note (INSERT/UPDATE … RETURNING),
// and SQLite only checkpoints when a write statement is stepped to its
// end. 5,000 of them from one user must leave the -wal bounded and /me's
// size near the data's, with the handle open throughout.
func TestWritesThroughAPIKeepWALBounded(t *testing.T) {
	r := newRig(t, rigOptions{})
	c := r.client()
	c.signup("writer", "correct horse")
	body := strings.Repeat("lorem ipsum dolor sit amet ", 8)
	var ids []int64
	for i := range 2500 {
		ids = append(ids, c.createNote(fmt.Sprintf("note %d", i), body).ID)
	}
	for i, id := range ids {
		rec := c.do("PUT", fmt.Sprintf("/api/v1/notes/%d", id),
			map[string]string{"title": fmt.Sprintf("note %d, again", i), "body": body + "again"})
		if rec.Code != http.StatusOK {
			t.Fatalf("update %d: %d %s", id, rec.Code, rec.Body)
		}
	}
	path := r.tenantFile("writer")
	wal := fileSize(t, path+"-wal")
	if wal > walBound {
		t.Fatalf("after 5,000 writes the -wal holds %d bytes; want at most %d", wal, walBound)
	}
	rec := c.do("GET", "/api/v1/me", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("me: %d %s", rec.Code, rec.Body)
	}
	me := decode[meJSON](t, rec)
	data := fileSize(t, path)
	if me.SizeBytes > data+walBound {
		t.Fatalf("/me size_bytes %d for %d bytes of data; want at most data + %d", me.SizeBytes, data, walBound)
	}
	t.Logf("data %d bytes, -wal %d bytes, size_bytes %d", data, wal, me.SizeBytes)
}
