package datadir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cubbyhq/cubby/tenant"
)

// Restore verifies the backup in from and copies it into the data
// directory dir, which must be empty or missing (then it is made, but not
// its parents), under the directory's lock. progress, if not nil, is told
// how many files are done of how many. When it fails, dir is left as it
// was: tenant.Restore takes back what it wrote, and Restore the folder and
// the lock file.
func Restore(ctx context.Context, from, dir string, progress func(done, total int)) (_ tenant.Manifest, err error) {
	left := noteDataDir(dir)
	defer func() {
		if err != nil {
			left.takeBack() // after the lock is released
		}
	}()
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return tenant.Manifest{}, fmt.Errorf("make data directory: %w", err)
	}
	lock, err := TakeLock(dir)
	if err != nil {
		return tenant.Manifest{}, err
	}
	defer func() { err = errors.Join(err, lock.Release()) }()
	return tenant.Restore(ctx, from, dir, progress)
}
