package tenant

import (
	"fmt"
	"os"
	"path/filepath"
)

// A cluster node keeps the local copy of a tenant it gave up (its next
// claim of the tenant restores only if another node wrote it since). When
// the tenant is deleted, on whichever node owned it last, the copies the
// other nodes kept must go too: the node lists its copies (LocalCopies)
// and drops those the cluster's directory no longer has (DropCopy).

// LocalCopies lists the ids of the tenant files in the data directory.
func (p *Pool) LocalCopies() ([]string, error) {
	var ids []string
	err := p.eachTenantFolder(func(_ string, files []os.DirEntry) error {
		for _, file := range files {
			if name := file.Name(); !file.IsDir() && filepath.Ext(name) == ".db" {
				if id := tenantIDOf(name); id != "" {
					ids = append(ids, id)
				}
			}
		}
		return nil
	})
	return ids, err
}

// DropCopy removes tenant id's local copy (the file and the files SQLite
// keeps beside it) unless the pool has the tenant open, is opening,
// closing or deleting it: the caller has made sure the tenant no longer
// exists. While it works, acquires of the tenant fail with ErrNotFound.
// It says whether it removed anything.
func (p *Pool) DropCopy(id string) (bool, error) {
	if !validID(id) {
		return false, ErrNotFound
	}
	p.mu.Lock()
	if p.closed || p.entries[id] != nil || p.closing[id] != nil {
		p.mu.Unlock()
		return false, nil
	}
	e := &entry{id: id, ready: make(chan struct{}), gone: make(chan struct{})}
	close(e.ready)
	close(e.gone)
	p.entries[id] = e // turns acquires away, as a deletion does
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.entries[id] == e {
			delete(p.entries, id)
		}
		p.mu.Unlock()
	}()
	path := p.tenantPath(id)
	if _, err := os.Stat(path); err != nil {
		return false, nil
	}
	if err := removeFiles(path); err != nil {
		return false, fmt.Errorf("drop the local copy of tenant %s: %w", id, err)
	}
	return true, nil
}
