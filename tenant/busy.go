package tenant

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Running out of file descriptors is a passing state of the process, not
// a fault of any file: it is ErrBusy (try again shortly), never a broken
// tenant and never a bug. The OS says so with EMFILE or ENFILE; SQLite
// says only CANTOPEN (or IOERR, for a temp or -shm file) and keeps the
// errno to itself, so for those the process checks whether it can open a
// file at all, right after the failure.

// MarkBusy returns err wrapped with ErrBusy when it comes from the process
// running out of file descriptors or from a file another process kept
// locked past the busy timeout, with ErrFull when it comes from a full
// disk, and err unchanged otherwise. Code that runs its own queries on
// routing.db (the session store) uses it.
func MarkBusy(err error) error {
	switch {
	case err == nil || errors.Is(err, ErrBusy) || errors.Is(err, ErrFull):
		return err
	case outOfFiles(err):
		return fmt.Errorf("%w: out of file descriptors: %w", ErrBusy, err)
	case lockedOut(err):
		return fmt.Errorf("%w: locked by another connection: %w", ErrBusy, err)
	case storageFull(err):
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

// storageFull reports whether err says a file could not grow: SQLite's
// SQLITE_FULL (the disk is full, or max_page_count reached) or the
// system's ENOSPC.
func storageFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL || errors.Is(err, syscall.ENOSPC)
}

// outOfFiles reports whether err says the process ran out of descriptors.
func outOfFiles(err error) bool {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return true
	}
	return cantOpen(err) && descriptorsExhausted()
}

// lockedOut reports whether err is SQLite giving up on a lock another
// connection held for longer than the busy timeout (SQLITE_BUSY), as
// when another process (an operator's sqlite3 shell, a script) holds a
// write transaction open on routing.db or a tenant file. That passes when
// the other connection lets go: the file is neither broken nor is the
// process at fault, so it is ErrBusy (503, try again), never a 500.
func lockedOut(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	// SQLITE_LOCKED is left out: it is a conflict inside one connection
	// (a table dropped under its own statement), a bug to see, not to retry.
	return se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// cantOpen reports whether err is SQLite failing to open a file.
func cantOpen(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR:
		return true
	}
	return false
}

// descriptorsExhausted reports whether the process cannot open one more
// file right now for want of descriptors.
func descriptorsExhausted() bool {
	f, err := os.Open(os.DevNull)
	if err == nil {
		f.Close()
		return false
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// routingBusy is MarkBusy for routing.db, which the process opened when it
// started: failing to open another connection to it is for want of
// descriptors even when one was freed before the check could see it.
func routingBusy(err error) error {
	if err == nil || errors.Is(err, ErrBusy) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CANTOPEN {
		return fmt.Errorf("%w: cannot open routing.db: %w", ErrBusy, err)
	}
	return MarkBusy(err)
}
