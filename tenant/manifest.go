package tenant

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ManifestName is the file at the top of a backup that lists what it holds.
// Backup writes it last, so a folder without one is an unfinished backup.
const ManifestName = "manifest.json"

// manifestFormat is the version of the manifest's layout.
const manifestFormat = 1

// Manifest describes a backup: what it holds and how to verify each file.
type Manifest struct {
	// Format is the version of this layout (1).
	Format    int       `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	// SchemaVersion is the newest migration the binary that made the
	// backup knew; 0 when it was not told.
	SchemaVersion int              `json:"schema_version,omitempty"`
	Routing       ManifestFile     `json:"routing"`
	Tenants       []ManifestTenant `json:"tenants"`
	// Missing are tenants whose rows are in the backup's routing.db but
	// whose files could not be copied.
	Missing []MissingTenant `json:"missing,omitempty"`
}

// ManifestFile is one file of a backup.
type ManifestFile struct {
	// Path is relative to the backup folder, slash-separated; it is also
	// where the file goes in a data directory.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lower-case hex
}

// ManifestTenant is one tenant's file in a backup.
type ManifestTenant struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	State    State  `json:"state"`
	// SchemaVersion is the file's own PRAGMA user_version.
	SchemaVersion int `json:"schema_version"`
	ManifestFile
}

// MissingTenant is a tenant a backup could not copy, and why.
type MissingTenant struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Error    string `json:"error"`
}

// ReadManifest reads and validates the manifest of the backup in dir. It
// checks the manifest's shape (every path is where its tenant id says it
// belongs), not the files themselves; Restore does that.
func ReadManifest(dir string) (Manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, fmt.Errorf("%w: %s has no %s (not a backup, or an unfinished one)", ErrBadBackup, dir, ManifestName)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: parse manifest: %w", ErrBadBackup, err)
	}
	if err := m.validate(); err != nil {
		return Manifest{}, fmt.Errorf("%w: manifest: %w", ErrBadBackup, err)
	}
	return m, nil
}

// validate checks that m names only files a data directory may hold, so
// that no manifest can make Restore write outside its target.
func (m Manifest) validate() error {
	if m.Format != manifestFormat {
		return fmt.Errorf("format %d; this binary reads format %d", m.Format, manifestFormat)
	}
	if m.Routing.Path != RoutingFile {
		return fmt.Errorf("routing path %q; want %q", m.Routing.Path, RoutingFile)
	}
	if err := m.Routing.validSum(); err != nil {
		return err
	}
	seen := make(map[string]bool, len(m.Tenants))
	for _, t := range m.Tenants {
		if !validID(t.ID) {
			return fmt.Errorf("tenant id %q is not a tenant id", t.ID)
		}
		if seen[t.ID] {
			return fmt.Errorf("tenant %s listed twice", t.ID)
		}
		seen[t.ID] = true
		if t.Path != tenantRel(t.ID) {
			return fmt.Errorf("tenant %s: path %q; want %q", t.ID, t.Path, tenantRel(t.ID))
		}
		if err := t.validSum(); err != nil {
			return err
		}
	}
	return nil
}

func (f ManifestFile) validSum() error {
	if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("%s: sha256 %q is not a sha256", f.Path, f.SHA256)
	}
	if f.Size < 0 {
		return fmt.Errorf("%s: size %d", f.Path, f.Size)
	}
	return nil
}

// files lists every file of the backup: the tenants' first, routing.db last
// (a data directory with a routing.db is one that is ready to serve).
func (m Manifest) files() []ManifestFile {
	out := make([]ManifestFile, 0, len(m.Tenants)+1)
	for _, t := range m.Tenants {
		out = append(out, t.ManifestFile)
	}
	return append(out, m.Routing)
}

// sumFile returns the size and hex sha256 of the file at path.
func sumFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// sealFile flushes the backup file root/rel to disk and describes it.
func sealFile(root, rel string) (ManifestFile, error) {
	path := filepath.Join(root, filepath.FromSlash(rel))
	f, err := os.Open(path)
	if err != nil {
		return ManifestFile{}, fmt.Errorf("open %s: %w", rel, err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return ManifestFile{}, fmt.Errorf("sync %s: %w", rel, err)
	}
	n, sum, err := sumFile(path)
	if err != nil {
		return ManifestFile{}, fmt.Errorf("checksum %s: %w", rel, err)
	}
	return ManifestFile{Path: rel, Size: n, SHA256: sum}, nil
}

// headerUserVersion reads PRAGMA user_version from a database file's header
// (a big-endian uint32 at offset 60) without opening it with SQLite.
func headerUserVersion(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var h [64]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return 0, fmt.Errorf("read header of %s: %w", filepath.Base(path), err)
	}
	if string(h[:16]) != "SQLite format 3\x00" {
		return 0, fmt.Errorf("%s is not a SQLite database", filepath.Base(path))
	}
	return int(binary.BigEndian.Uint32(h[60:64])), nil
}

// WriteFileAtomic writes data to dir/name, mode 0600, through a synced
// temporary file renamed into place, then syncs dir: the file is either
// whole or absent, and survives a crash once it returns.
func WriteFileAtomic(dir, name string, data []byte) (err error) {
	tmp := filepath.Join(dir, name+".tmp-"+newID())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("move %s into place: %w", name, err)
	}
	return SyncDir(dir)
}

// SyncDir flushes a folder's entries (new names, renames) to disk.
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open folder %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
