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
	if err := tenant.WriteFileAtomic(filepath.Dir(p), filepath.Base(p), []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("record writer id: %w", err)
	}
	return id, nil
}
