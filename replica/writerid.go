package replica

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cubbyhq/cubby/tenant"
)

// A data directory's writer id names it in the writer lease (writer.go):
// kept on disk, it lets the same directory, restarted after a crash, take
// its own lease back at once rather than wait for it to expire.

// WriterIDFile is where a data directory keeps its writer id.
func WriterIDFile(dataDir string) string { return filepath.Join(dataDir, "replica", "writer-id") }

// writerID reads the data directory's writer id, making it (128 random
// bits, written durably) at first use.
func writerID(dataDir string) (string, error) {
	p := WriterIDFile(dataDir)
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read writer id: %w", err)
	}
	if id := strings.TrimSpace(string(b)); len(id) == 32 {
		if _, err := hex.DecodeString(id); err == nil {
			return id, nil
		}
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand)
	id := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("make replica folder: %w", err)
	}
	if err := writeSynced(p, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("record writer id: %w", err)
	}
	return id, nil
}

// writeSynced writes b to path through a synced temporary file and a
// rename, then syncs the folder.
func writeSynced(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return tenant.SyncDir(filepath.Dir(path))
}
