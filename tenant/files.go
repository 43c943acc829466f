package tenant

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// A tenant id is 128 random bits in hex; the file is named by it alone.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // cannot happen on a supported OS
	}
	return hex.EncodeToString(b[:])
}

// validID reports whether s looks like an id newID made, so that nothing
// else can be turned into a path.
func validID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// fileSuffixes are the files SQLite may keep beside a database.
var fileSuffixes = []string{"", "-wal", "-shm", "-journal"}

// tenantPath is the database file of a tenant: tenants/<first two hex>/<id>.db.
func (p *Pool) tenantPath(id string) string { return tenantFile(p.dir, id) }

// createFile makes an empty tenant file with O_EXCL and mode 0600, in 0700
// folders, before SQLite touches it. A tenants folder this process cannot
// write (read-only, not a folder, not its owner's) is ErrUnavailable, a
// fault of the storage and no bug; callers apply MarkBusy, so running out
// of descriptors or room still says so.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("%w: make tenant folder: %w", ErrUnavailable, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%w: create tenant file: %w", ErrUnavailable, err)
	}
	return f.Close()
}

// removeFiles deletes a database and its sidecar files; missing ones are fine.
func removeFiles(path string) error {
	var errs []error
	for _, s := range fileSuffixes {
		if err := os.Remove(path + s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fileSize is the size of a database plus its WAL.
func fileSize(path string) (int64, error) {
	var total int64
	for _, s := range []string{"", "-wal"} {
		fi, err := os.Stat(path + s)
		if errors.Is(err, fs.ErrNotExist) && s != "" {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}

// fileDSN is the modernc.org/sqlite DSN for a database file. mode is "rw"
// for tenant files (a missing file is an error) or "rwc".
func fileDSN(path, mode string, durable bool) string {
	sync := "NORMAL"
	if durable {
		sync = "FULL"
	}
	q := url.Values{}
	q.Set("mode", mode)
	q.Set("_txlock", "immediate")
	q.Add("_pragma", "busy_timeout(10000)")
	if mode != "rw" {
		// An existing tenant file is in WAL mode already (ensureWAL
		// switches it once, on its first open), so only a new file is
		// asked here: see ensureWAL for what asking on every open cost.
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_size_limit(1048576)")
	return "file:" + escapePath(path) + "?" + q.Encode()
}

// escapePath protects the characters a SQLite URI filename treats specially.
func escapePath(p string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return r.Replace(filepath.ToSlash(p))
}
