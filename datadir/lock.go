package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockName is the lock file inside a data directory.
const lockName = ".lock"

// ErrLocked is returned by TakeLock when another process holds the lock.
var ErrLocked = errors.New("data directory is locked")

// Lock is a data directory's writer lock: an flock on DIR/.lock, so that
// serve, migrate, delete-user and restore never run on one directory at
// once. Readers take no lock.
type Lock struct {
	f *os.File
}

// TakeLock takes the writer lock of the data directory dir, which must
// exist. When another process holds it the error wraps ErrLocked.
func TakeLock(dir string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &lockedError{dir: dir}
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &Lock{f: f}, nil
}

// Release releases the lock. It is safe to call twice.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	if err := f.Close(); err != nil { // closing the file releases the lock
		return fmt.Errorf("release lock: %w", err)
	}
	return nil
}

// lockedError says who holds the lock of dir.
type lockedError struct{ dir string }

func (e *lockedError) Error() string {
	return fmt.Sprintf("another cubby process (serve, migrate, delete-user or restore) is using %s", e.dir)
}

func (e *lockedError) Unwrap() error { return ErrLocked }
