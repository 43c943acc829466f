package tenant

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// walBound is the -wal size past which CheckFiles checkpoints an idle
// handle. SQLite's own auto-checkpoint keeps a WAL near 4 MiB (1,000
// pages) when every write steps to its end; this catches what it misses
// (auto-checkpoint turned off, a write path that stops early).
const walBound = 8 << 20

// CheckFiles retires every open handle whose file has left its path,
// removed or replaced by another file, or whose -wal was removed, and
// returns how many it retired.
// Writes through such a handle would go to a file nobody can reach again,
// so from then on Acquire fails with ErrUnavailable until the last holder
// releases the old handle; the next open then finds the path as it is now
// (a missing file stays missing: tenant files are opened mode=rw). The pool
// runs it every Config.FileCheckInterval, so requests pay no system call
// for it. It also checkpoints idle handles whose -wal has grown past
// walBound, so that the WAL of an open handle cannot fill the disk.
func (p *Pool) CheckFiles() int {
	type open struct {
		e    *entry
		file os.FileInfo
	}
	p.mu.Lock()
	var es []open
	if !p.closed {
		for _, e := range p.entries {
			if e.file != nil && e.gone == nil && !e.lost {
				es = append(es, open{e, e.file})
			}
		}
	}
	p.mu.Unlock()

	var lost []*entry
	for _, o := range es {
		fi, err := os.Stat(p.tenantPath(o.e.id))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			p.cfg.Logger.Warn("check tenant file", "tenant", o.e.id, "err", err)
			continue
		case os.SameFile(o.file, fi):
			wal, err := os.Stat(p.tenantPath(o.e.id) + "-wal")
			if errors.Is(err, fs.ErrNotExist) {
				// The -wal was removed under the handle (an open handle's
				// WAL always exists: see ensureWAL). Its commits, and every
				// one after, would live only in a file nobody can reach,
				// lost at a crash; closing the handle checkpoints them into
				// the file, and the next open starts a new -wal.
				break
			}
			if err == nil && wal.Size() > walBound {
				p.checkpoint(o.e)
			}
			continue
		}
		lost = append(lost, o.e)
	}
	if len(lost) == 0 {
		return 0
	}
	return p.retireLost(lost)
}

// retireLost takes entries whose file is gone out of service: idle ones
// close now, held ones when their last holder releases them.
func (p *Pool) retireLost(lost []*entry) int {
	var retired, toClose []*entry
	p.mu.Lock()
	for _, e := range lost {
		if p.closed || p.entries[e.id] != e || e.gone != nil || e.lost {
			continue // closed, deleted or retired meanwhile
		}
		retired = append(retired, e)
		if e.refs == 0 {
			toClose = append(toClose, p.retireLocked(e))
			continue
		}
		e.lost = true // its last release retires it
		if e.elem != nil {
			p.lru.Remove(e.elem)
			e.elem = nil
		}
	}
	p.mu.Unlock()
	for _, e := range retired {
		p.cfg.Logger.Warn("tenant file left its path; tenant unavailable", "tenant", e.id, "path", p.tenantPath(e.id))
	}
	p.closeAsync(toClose)
	return len(retired)
}

// checkpoint copies an idle handle's WAL into its file and truncates it.
// A handle in use is left for the next check: the checkpoint would wait
// for its connection.
func (p *Pool) checkpoint(e *entry) {
	p.mu.Lock()
	if !p.idleLocked(e) {
		p.mu.Unlock()
		return
	}
	e.refs++ // so that no one closes it meanwhile
	p.mu.Unlock()
	defer p.unhold(e, false)
	ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
	defer cancel()
	if _, err := e.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		p.cfg.Logger.Warn("checkpoint tenant WAL", "tenant", e.id, "err", err)
	}
}

// checkpointTimeout bounds one background checkpoint.
const checkpointTimeout = 10 * time.Second
