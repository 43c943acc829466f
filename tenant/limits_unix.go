//go:build unix

package tenant

import "syscall"

// fdsPerHandle is what one open tenant holds: the database, its WAL and
// the shared-memory index.
const fdsPerHandle = 3

// fdsPerReader is what a lent read-only connection (see reader) adds to its
// handle: its own descriptors on the database and the WAL; SQLite shares
// the shared-memory index between connections to one file in a process.
const fdsPerReader = 2

// handleFDs is the descriptors maxOpen handles may hold, the connections
// the pool lends some of them included.
func handleFDs(maxOpen int) int {
	return maxOpen*fdsPerHandle + readerBudget(maxOpen)*fdsPerReader
}

// reservedFDs are the descriptors kept for all but pool handles and
// client connections: routing.db's connections (up to 8, three each),
// listeners, standard streams, and what opens beside the pool for a moment
// (a new tenant's file, a snapshot's source and copy, SQLite temp files).
const reservedFDs = 96

// minSpare is the fewest descriptors the limit must leave beyond the pool
// and the reserve, for client connections.
const minSpare = 160

// MaxClients is how many clients fit in the process's file descriptor
// limit beside maxOpen pool handles and a reserve for routing.db and
// passing needs, when each client holds a descriptor of its own (a
// connection) and may hold one tenant handle: while more clients than
// maxOpen hold handles at once, the pool goes over capacity by three
// descriptors each. It is never below 1.
func MaxClients(maxOpen int) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<24 {
		return 1 << 20 // cannot tell, or no limit worth the name
	}
	return maxClients(int(lim.Cur), maxOpen)
}

// maxClients is MaxClients for a limit of limit descriptors.
func maxClients(limit, maxOpen int) int {
	spare := limit - handleFDs(maxOpen) - reservedFDs
	if spare <= maxOpen {
		return max(spare, 1)
	}
	// n clients past maxOpen cost 1+fdsPerHandle each.
	return (spare + maxOpen*fdsPerHandle) / (1 + fdsPerHandle)
}

// CheckFileLimit makes sure maxOpen handles fit in the process's file
// descriptor limit, raising the soft limit towards the hard one if needed.
// NewPool checks it too; a command calls it first to refuse before it
// makes anything. A limit too low is a *FileLimitError.
func CheckFileLimit(maxOpen int) error {
	need := uint64(handleFDs(maxOpen) + reservedFDs + minSpare)
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
	return &FileLimitError{
		Handles: maxOpen, Need: need, Soft: lim.Cur, Hard: lim.Max,
		Fit: handlesFitting(max(int(lim.Max)-reservedFDs-minSpare, 0)),
	}
}

// handlesFitting is the most handles whose descriptors (handleFDs) fit in n.
func handlesFitting(n int) int {
	fit := n / fdsPerHandle
	for fit > 0 && handleFDs(fit) > n {
		fit--
	}
	return fit
}
