//go:build unix

package tenant

import (
	"fmt"
	"syscall"
)

// fdsPerHandle is what one open tenant holds: the database, its WAL and
// the shared-memory index.
const fdsPerHandle = 3

// checkFileLimit makes sure maxOpen handles fit in the process's file
// descriptor limit, raising the soft limit towards the hard one if needed.
func checkFileLimit(maxOpen int) error {
	need := uint64(maxOpen*fdsPerHandle + 256) // routing.db, sockets, slack
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // cannot tell; do not refuse to start
	}
	if lim.Cur >= need {
		return nil
	}
	if lim.Max >= need {
		lim.Cur = need
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
			return nil
		}
	}
	return fmt.Errorf("tenant: --max-open %d needs about %d file descriptors but the limit is %d (hard %d); "+
		"lower --max-open to %d or raise the limit (ulimit -n)",
		maxOpen, need, lim.Cur, lim.Max, max(int(lim.Max)-256, 0)/fdsPerHandle)
}
