package tenant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jmoiron/sqlx"
)

// ScrubFunc edits a snapshot before it is compacted, e.g. to blank secrets.
type ScrubFunc func(ctx context.Context, db *sqlx.DB) error

// Snapshot writes a consistent copy of tenant id's database to dst, which
// must not exist (VACUUM INTO, so the copy is compact and has no WAL). If
// scrub is not nil it runs on the copy, which is then vacuumed again so that
// nothing scrub removed is left in free pages. On failure dst is removed.
func (p *Pool) Snapshot(ctx context.Context, id, dst string, scrub ScrubFunc) (err error) {
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create snapshot file: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			err = errors.Join(err, removeFiles(dst))
		}
	}()
	s, release, err := p.Acquire(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(ctx, "VACUUM INTO ?", dst)
	release()
	if err != nil {
		return fmt.Errorf("vacuum into snapshot: %w", err)
	}
	if scrub == nil {
		return nil
	}
	return scrubCopy(ctx, dst, scrub)
}

func scrubCopy(ctx context.Context, path string, scrub ScrubFunc) error {
	db, err := sqlx.Open("sqlite", "file:"+escapePath(path)+"?mode=rw&_pragma=journal_mode(DELETE)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("open snapshot: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := scrub(ctx, db); err != nil {
		return fmt.Errorf("scrub snapshot: %w", err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("compact snapshot: %w", err)
	}
	return db.Close()
}

// Export returns a scrubbed snapshot of tenant id as an open file,
// positioned at its start. The file is already unlinked from tmp/, so
// nothing is left on disk once the caller closes it, whatever happens.
func (p *Pool) Export(ctx context.Context, id string, scrub ScrubFunc) (*os.File, error) {
	path := filepath.Join(p.dir, "tmp", "export-"+newID()+".db")
	if err := p.Snapshot(ctx, id, path, scrub); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if rerr := removeFiles(path); rerr != nil && err == nil {
		f.Close()
		return nil, fmt.Errorf("unlink export: %w", rerr)
	}
	if err != nil {
		return nil, fmt.Errorf("open export: %w", err)
	}
	return f, nil
}
