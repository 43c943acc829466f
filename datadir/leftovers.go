package datadir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/tenant"
)

// A refused command leaves the data directory exactly as it was. The
// writers take the lock and open routing.db, and so make .lock, the
// folders beside it and routing.db's own files, before they can find that
// they must refuse (the directory is not empty, the user does not exist,
// the port is taken); leftovers takes those back.

// leftovers is what a data directory held before a command ran.
type leftovers struct {
	dir     string
	existed bool
	known   bool // false when the directory could not be read: take nothing back
	had     map[string]bool
	// hadID: the data directory's writer id existed (replica.WriterIDFile).
	hadID bool
}

// noteDataDir records what dir holds now.
func noteDataDir(dir string) *leftovers {
	l := &leftovers{dir: dir, had: make(map[string]bool)}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l.known = true
	case err == nil:
		l.existed, l.known = true, true
		for _, e := range ents {
			l.had[e.Name()] = true
		}
		_, err := os.Lstat(replica.WriterIDFile(dir))
		l.hadID = err == nil
	}
	return l
}

// takeBack removes what cubby made in the directory since noteDataDir: the
// lock file, the writer id (a refused start took no lease under it, or let
// it go), routing.db with its -wal, -shm and -journal (only when
// routing.db itself is new: the side files of an existing one belong to
// whoever has it open), the folders if still empty, and the directory if
// it is new. Anything else, and anything a failed step left in a folder,
// stays for a person to look at. Call it after the lock is released.
func (l *leftovers) takeBack() {
	if !l.known {
		return
	}
	remove := func(name string) {
		if !l.had[name] {
			os.Remove(filepath.Join(l.dir, name)) // a folder only when empty
		}
	}
	if !l.hadID {
		os.Remove(replica.WriterIDFile(l.dir))
	}
	if !l.had[tenant.RoutingFile] {
		for _, s := range []string{"", "-wal", "-shm", "-journal"} {
			remove(tenant.RoutingFile + s)
		}
	}
	for _, name := range []string{"tenants", "tmp", "orphans", "replica", clusterMark, lockName} {
		remove(name)
	}
	if !l.existed {
		os.Remove(l.dir)
	}
}
